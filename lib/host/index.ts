/**
 * LVS host helpers: addresses and links over rtnetlink, network sysctls,
 * named network namespaces, real-server and director setups with
 * `restore()`, and throw-away lab topologies for integration tests.
 *
 * @module
 */
export { addAddress, deleteAddress, listAddresses, setLinkDown, setLinkUp } from './address.js';
export type { AddressInfo, AddressOptions, NetnsOption } from './address.js';
export { readSysctl, writeSysctl } from './sysctl.js';
export { createNetns, deleteNetns, listNetns } from './netns.js';
export { configureDirector, configureRealServer } from './lvs.js';
export type { AddedAddress, DirectorOptions, HostChanges, RealServerOptions, SysctlChange } from './lvs.js';
export { announceAddress, moveAddress } from './failover.js';
export type { AnnounceOptions, MoveAddressOptions, VipHolder } from './failover.js';
export { deleteRoute, listRoutes, setRoute } from './routes.js';
export type { NextHop, RouteInfo, RouteOptions } from './routes.js';
export { createEcmpLab } from './ecmp-lab.js';
export type { EcmpDirector, EcmpLab, EcmpLabOptions } from './ecmp-lab.js';
export { createLab } from './lab.js';
export type { Lab, LabAnswer, LabOptions, LabRealServer } from './lab.js';
