/** Configuration: HAProxy's file format (TCP subset) and the equivalent TypeScript object. */
export * from './model.js';
export { ConfigError, type Diagnostic, type Severity } from './diagnostics.js';
export { tokenizeLine, describeTokenizeError, MAX_LINE_ARGS, type Token, type TokenizedLine, type TokenizeError, type TokenizeContext } from './tokenizer.js';
export {
  parseConfig,
  readConfig,
  expandConfigPaths,
  SECTION_KEYWORDS,
  type ConfigSource,
  type ParseOptions,
  type ConfigResult,
} from './parser.js';
export { checkConfig } from './check.js';
export { parseTime, parseIpPattern } from './values.js';
export { SUPPORTED_GLOBAL_KEYWORDS } from './global.js';
export { SUPPORTED_PROXY_KEYWORDS, PROXY_KEYWORD_SECTIONS, OPTIONS, TIMEOUTS } from './proxy.js';
export { SUPPORTED_SERVER_KEYWORDS, MAX_WEIGHT, MAX_TEMPLATE_SLOTS } from './server.js';
export { SUPPORTED_RESOLVERS_KEYWORDS, RESOLV_CONF } from './resolvers.js';
export { ACL_FETCHES, PREDEFINED_ACLS } from './acl.js';
export {
  UNSUPPORTED_GLOBAL,
  UNSUPPORTED_PROXY,
  UNSUPPORTED_OPTIONS,
  UNSUPPORTED_SERVER,
  UNSUPPORTED_SECTIONS,
  UNSUPPORTED_TIMEOUTS,
  UNSUPPORTED_TCP_REQUEST,
  UNSUPPORTED_TCP_ACTIONS,
  REMOVED_GLOBAL,
  REMOVED_PROXY,
  REMOVED_OPTIONS,
  type Refusal,
} from './keywords.js';
export { HAPROXY_COMPAT_VERSION } from './preprocessor.js';
export {
  configFromObject,
  readConfigObject,
  OBJECT_FILE,
  type EpoxyConfig,
  type GlobalInput,
  type TuneInput,
  type LogInput,
  type DefaultsInput,
  type FrontendInput,
  type BackendInput,
  type ListenInput,
  type ProxyInput,
  type SettingsInput,
  type TimeoutsInput,
  type OptionsInput,
  type BalanceInput,
  type HashTypeInput,
  type SourceInput,
  type AclInput,
  type ConditionInput,
  type TcpRuleInput,
  type UseBackendInput,
  type ServerInput,
  type ServerOptionsInput,
  type BindInput,
  type BindOptionsInput,
  type TimeInput,
} from './object.js';
