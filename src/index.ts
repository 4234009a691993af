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
export { Loop, type LoopOptions } from './loop/loop.js';
export { Activity, ACTIVITY_FIELDS, ACTIVITY_HELP, type ActivityField } from './loop/activity.js';
export * from './task/index.js';
export { SignalQueue } from './signal/signal-queue.js';
export { FdTable } from './fd/fdtab.js';
export * from './fd/fd-types.js';
export { selectPoller, pollerNames, pollerFactories } from './poller/registry.js';
export type { Poller, PollerFactory } from './poller/poller-types.js';
export * from './listener/index.js';
export * from './proxy/index.js';
export { start, stderrLog, type StartOptions, type RunningProxy } from './runtime/start.js';
export { BindError, type BindFailure } from './runtime/bind-error.js';
export { buildRuntime, type Runtime } from './runtime/build.js';
export {
  parseConfig,
  readConfig,
  checkConfig,
  configFromObject,
  readConfigObject,
  ConfigError,
  type Config,
  type EpoxyConfig,
} from './config/index.js';
export { SessionEngine } from './session/session.js';
export { ControlClient, ControlError, type ControlAnswer } from './control/client.js';
export { COMMANDS, type CommandSpec, type CommandResult, type ControlContext } from './control/commands.js';
export { ServerEvents, type ServerChange } from './backend/server-events.js';
export { createBalancer, type Balancer } from './backend/balance.js';
export { parseProxyHeader, buildProxyHeader } from './proxy-protocol/proxy-protocol.js';
