/**
 * Numbers from the kernel's `include/uapi/linux/ip_vs.h` and friends, in one
 * module with no side effects (importing it loads no addon).
 *
 * @internal
 * @module
 */

// A statement of its own first: the module's @internal above must not attach
// to the first declaration (stripInternal would drop it from the .d.ts).
export {};

/** AF_INET / AF_INET6 as the kernel numbers them. */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** IP protocol numbers for services. */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** `IP_VS_SVC_F_*` service flags. */
export const SVC_F_PERSISTENT = 0x1;
export const SVC_F_HASHED = 0x2;
export const SVC_F_ONEPACKET = 0x4;
export const SVC_F_SCHED1 = 0x8;
export const SVC_F_SCHED2 = 0x10;
export const SVC_F_SCHED3 = 0x20;

/** `IP_VS_CONN_F_*` forwarding methods (low 3 bits of the destination's conn flags). */
export const FWD_MASQ = 0;
export const FWD_LOCALNODE = 1;
export const FWD_TUNNEL = 2;
export const FWD_DROUTE = 3;

/** `IP_VS_CONN_F_TUNNEL_TYPE_*`. */
export const TUN_IPIP = 0;
export const TUN_GUE = 1;
export const TUN_GRE = 2;

/** `IP_VS_TUNNEL_ENCAP_FLAG_*`. */
export const TUN_F_NOCSUM = 0;
export const TUN_F_CSUM = 1;
export const TUN_F_REMCSUM = 2;

/** `IP_VS_STATE_*` daemon roles. */
export const DAEMON_MASTER = 1;
export const DAEMON_BACKUP = 2;

/** `IP_VS_SCHEDNAME_MAXLEN` and friends include the terminating NUL. */
export const SCHEDNAME_MAXLEN = 16;
export const PENAME_MAXLEN = 16;
export const IFNAME_MAXLEN = 16;

/** Generic-netlink command codes (`IPVS_CMD_*`). */
export const CMD_NEW_SERVICE = 1;
export const CMD_SET_SERVICE = 2;
export const CMD_DEL_SERVICE = 3;
export const CMD_GET_SERVICE = 4;
export const CMD_NEW_DEST = 5;
export const CMD_SET_DEST = 6;
export const CMD_DEL_DEST = 7;
export const CMD_NEW_DAEMON = 9;
export const CMD_DEL_DAEMON = 10;
export const CMD_SET_CONFIG = 12;
export const CMD_ZERO = 16;
export const CMD_FLUSH = 17;
