/** Public entry point of the epoxy package. */
export { native, constants } from './native.js';
export type {
  NativeAddon,
  NativePoller,
  NativeConstants,
  SocketOptionName,
  SocketOptionValues,
  ReadonlySocketOptionName,
  ReadonlySocketOptionValues,
  AnySocketOptionName,
  Linger,
  AddressFamily,
  UnpackedAddress,
} from './native.js';
export { EpoxyError, EpoxySystemError, ErrorCodes, type EpoxyErrorCode } from './errors.js';
export { SocketAddress, parseAddress } from './address.js';
export { planInheritedFds, inheritedFds, FIRST_INHERITED_FD, INHERITED_FDS_ENV } from './process/fds.js';
export { capabilities, type Capabilities } from './capabilities.js';
export { VERSION } from './version.js';
