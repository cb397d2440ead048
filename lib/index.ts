/**
 * ipvs-ts: a typed interface to Linux IPVS over generic netlink.
 *
 * @packageDocumentation
 */
export { Ipvs } from './ipvs.js';
export { IpvsError } from './errors.js';
export type { IpvsErrorDetails } from './errors.js';
export type * from './types.js';
export * from './host/index.js';
export { applyDesired, checkDesiredState, describePlan } from './apply.js';
export { StateFileError } from './state-file.js';
export { HealthChecker } from './health.js';
export { formatMetrics, serveMetrics } from './metrics.js';
export type { MetricsOptions, MetricsServer, MetricsSource, ServeMetricsOptions } from './metrics.js';
export type { CheckedService, HealthCheckSettings, HealthCheckerEvents, HealthCheckerOptions, HealthEvent, HealthFailure, HealthProbe, HealthState, HealthTarget, ProbeResult, ProbeTarget, RealServerRef, SorryEvent } from './health.js';
export type { DrainOptions, DrainProgress, DrainResult, DrainTarget, DrainUntil } from './drain.js';
export type { ApplyChange, ApplyKept, ApplyOptions, ApplyPlan, ApplyStep, ApplyTarget, DesiredDestination, DesiredService, DesiredState, DesiredStateProblem, PruneMode } from './apply.js';
export { IpvsadmRulesError, formatIpvsadmRules, parseIpvsadmRules } from './ipvsadm/rules.js';
export type { DestinationRule, FormatRulesOptions, ParseRulesOptions, ParsedRule, ServiceRule } from './ipvsadm/rules.js';
export { formatDaemons, formatLargeNumber, formatListing, formatServiceListing, formatTimeouts } from './ipvsadm/listing.js';
export type { ListingOptions, NameResolver } from './ipvsadm/listing.js';
