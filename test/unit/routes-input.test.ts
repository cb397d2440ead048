// Multipath route helpers refuse bad input in words, before anything reaches
// the kernel (the routes themselves: test/kernel/scale-out.test.ts).
import { describe, expect, it } from 'vitest';

import { deleteRoute, listRoutes, setRoute } from '../../lib/host/routes.js';

describe('setRoute / deleteRoute / listRoutes input', () => {
  it.each([
    [{ destination: '10.0.0.300', nextHops: [{ dev: 'eth0' }] }, TypeError, "destination is not an IPv4 or IPv6 address: '10.0.0.300'"],
    [{ destination: '10.0.0.1', nextHops: [] }, TypeError, 'nextHops must be an array of 1–64 next hops'],
    [{ destination: '10.0.0.1', nextHops: [{ dev: 'eth0', gateway: 'fd00::1' }] }, TypeError, 'nextHops[0].gateway fd00::1 is not of the destination\'s family'],
    [{ destination: '10.0.0.1', nextHops: [{ dev: 'eth0', weight: 0 }] }, RangeError, 'nextHops[0].weight must be an integer 1–256, got 0'],
    [{ destination: '10.0.0.1', nextHops: [{ dev: 'eth/0' }] }, TypeError, 'nextHops[0].dev is not a valid interface name'],
    [{ destination: '10.0.0.1', prefixLength: 33, nextHops: [{ dev: 'eth0' }] }, RangeError, 'prefixLength'],
    [{ destination: '10.0.0.1', nextHops: [{ dev: 'eth0' }], replace: 'yes' }, TypeError, 'replace must be true or false, got yes'],
  ])('setRoute(%j) throws', async (options, type, message) => {
    await expect(setRoute(options as never)).rejects.toThrow(type);
    await expect(setRoute(options as never)).rejects.toThrow(message);
  });

  it('deleteRoute and listRoutes check theirs too', async () => {
    await expect(deleteRoute({ destination: 'nowhere' })).rejects.toThrow(TypeError);
    await expect(listRoutes({ family: 'ipx' as never })).rejects.toThrow("family must be 'inet' or 'inet6', got ipx");
  });
});
