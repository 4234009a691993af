export * from './proxy-types.js';
export { startProxies, enableProxies, pauseProxies, resumeProxies, stopProxy, softStop, type StartContext } from './proxy.js';
export { registerProxySignals, type ProxySignalOptions } from './signals.js';
