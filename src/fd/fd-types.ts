/**
 * Types and flags of the fd table (HAProxy's fd-t.h): what the loop wants from each fd, what the
 * poller last reported, and who owns it.
 */

/** Interest bits: what the owner wants to be told about. */
export const FD_WANT_RECV = 0x01; // wake me when the fd is readable (or the peer closed)
export const FD_WANT_SEND = 0x02; // wake me when the fd is writable

/** Event bits reported to an owner's I/O callback, the same whichever poller produced them. */
export const FD_EV_READY_R = 0x01; // data (or a connection, or EOF) can be read
export const FD_EV_READY_W = 0x02; // data can be written / a connect completed
export const FD_EV_SHUT_R = 0x04; // the peer shut its write side (EPOLLRDHUP / POLLRDHUP)
export const FD_EV_SHUT_RW = 0x08; // both directions are closed (EPOLLHUP / POLLHUP)
export const FD_EV_ERR_RW = 0x10; // an error is pending on the socket (EPOLLERR / POLLERR)
export const FD_EV_PRI = 0x20; // urgent data (EPOLLPRI / POLLPRI)

/** Called from the loop with the fd and its FD_EV_* bits. Must not throw (the loop counts it). */
export type FdIoCallback = (fd: number, events: number) => void;

/** What an fd-table entry holds. */
export interface FdEntry {
  /** The object the fd belongs to (a listener, a connection…). */
  owner: object;
  /** Called when the poller reports events for the fd. */
  iocb: FdIoCallback;
}
