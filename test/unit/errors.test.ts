import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { IpvsError } from '../../lib/errors.js';

describe('IpvsError', () => {
  it('carries errno, code, op and extack', () => {
    const e = new IpvsError('service tcp 10.0.0.1:80 already exists (EEXIST)', {
      errno: 17,
      code: 'EEXIST',
      op: 'addService',
      extack: 'why',
    });
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'IpvsError', errno: 17, code: 'EEXIST', op: 'addService', extack: 'why' });
  });

  it('is recognised across two copies of the class (ESM and CommonJS builds)', () => {
    // The CommonJS build (made by `npm test`'s pretest) is an independent copy.
    const other = createRequire(import.meta.url)('../../dist/cjs/errors.js') as typeof import('../../lib/errors.js');
    expect(other.IpvsError).not.toBe(IpvsError);
    const e = new other.IpvsError('x', { errno: 1, code: 'EPERM', op: 'info' });
    expect(e instanceof IpvsError).toBe(true);
    expect(new IpvsError('y', { errno: 1, code: 'EPERM', op: 'info' }) instanceof other.IpvsError).toBe(true);
    expect(new Error('plain') instanceof IpvsError).toBe(false);
    expect(null instanceof IpvsError).toBe(false);
  });
});
