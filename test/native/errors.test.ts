import { describe, expect, it } from 'vitest';
import { EpoxyError, EpoxySystemError, ErrorCodes, systemErrorFromErrno } from '../../src/errors.js';
import { native } from '../../src/native.js';
import { listenLoopback, tcpSocket } from '../helpers/sockets.js';

describe('errno mapping', () => {
  it('names errno values in either sign', () => {
    expect(native.errnoName(98)).toBe('EADDRINUSE');
    expect(native.errnoName(-98)).toBe('EADDRINUSE');
    expect(native.errnoName(11)).toBe('EAGAIN');
    expect(native.errnoName(115)).toBe('EINPROGRESS');
  });

  it('describes errno values the way the C library does', () => {
    expect(native.strerror(98)).toBe('Address already in use');
    expect(native.strerror(-1)).toBe('Operation not permitted');
  });

  it('exports errno constants, positive, each named by errnoName', () => {
    const table = native.constants.errno;
    expect(Object.keys(table).length).toBeGreaterThan(10);
    for (const [name, value] of Object.entries(table)) {
      expect(value).toBeGreaterThan(0);
      expect(native.errnoName(-value)).toBe(name === 'EAGAIN' || name === 'EWOULDBLOCK' ? 'EAGAIN' : name);
    }
  });

  it('gives numbers without a name a stable E<n> code', () => {
    expect(native.errnoName(4095)).toBe('E4095');
  });

  it('builds a SystemError from a data-path -errno', () => {
    const error = systemErrorFromErrno(-111, 'connect', native.errnoName, native.strerror);
    expect(error.description).toBe('Connection refused');
    expect(error.message).toBe('connect ECONNREFUSED: Connection refused');
    expect(error).toBeInstanceOf(EpoxySystemError);
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.errno).toBe(-111);
    expect(error.syscall).toBe('connect');
  });
});

describe('errors thrown by the addon', () => {
  it('are EpoxySystemError with code, negative errno, syscall, address and port', () => {
    const { fd, address } = listenLoopback();
    const second = tcpSocket();
    try {
      let caught: unknown;
      try {
        native.bind(second, address.bytes);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(EpoxySystemError);
      expect(caught).toBeInstanceOf(Error);
      const error = caught as EpoxySystemError;
      expect(error.code).toBe('EADDRINUSE');
      expect(error.errno).toBe(-98);
      expect(error.syscall).toBe('bind');
      expect(error.description).toBe('Address already in use');
      expect(error.address).toBe('127.0.0.1');
      expect(error.port).toBe(address.port);
      expect(error.message).toContain(`127.0.0.1:${address.port}`);
    } finally {
      native.close(second);
      native.close(fd);
    }
  });

  it('are EpoxyError with an ERR_EPOXY_* code for bad arguments', () => {
    let caught: unknown;
    try {
      // @ts-expect-error -- a string where an fd number belongs is a type error as well
      native.listen('three', 1);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EpoxyError);
    expect((caught as EpoxyError).code).toBe(ErrorCodes.INVALID_ARG);
  });
});
