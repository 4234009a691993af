/** Listeners: `bind` lines, listening sockets and their states (HAProxy's listener subsystem). */
export * from './listener-types.js';
export {
  BindOptionError,
  NETNS_DIR,
  SUPPORTED_BIND_KEYWORDS,
  UNSUPPORTED_BIND_KEYWORDS,
  defaultBindConf,
  editDistance,
  parseBindAddresses,
  parseBindLine,
  parseBindOptions,
  parseTimeMs,
  suggestKeyword,
} from './bind-parser.js';
export {
  createListener,
  createListeners,
  disableListener,
  enableListener,
  errFlagsToString,
  limitListener,
  listenerBacklog,
  listenerFull,
  listenerStateName,
  type ListenerDefaults,
} from './listener.js';
export {
  adjustAcceptedMss,
  bindListener,
  errnoText,
  pauseListener,
  resumeListener,
  socketFailureFlags,
  unbindListener,
} from './tcp-bind.js';
