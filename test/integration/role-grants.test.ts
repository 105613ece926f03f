import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbRoleGrants } from '../../lambdas/adapters/dynamodb-role-grants';
import { ENV, grantKeys, TASKS_TABLE, TASKS_TABLE_TTL_ATTRIBUTE } from '../../lambdas/contracts';
import { ValidationError } from '../../lambdas/domain/errors';
import type { Principal } from '../../lambdas/domain/principal';
import { GRANT_HISTORY_DAYS } from '../../lambdas/domain/role-grants';
import { effectivePrincipal, grantRole, listRoleGrants, revokeRole } from '../../lambdas/domain/use-cases/role-grants';
import { ManualClock } from '../../bin/harness/in-memory';
import { startEmulatedPlatform, type EmulatedPlatform } from '../../bin/harness/emulated-platform';

/** Role grants in the tasks table of the synthesized template, on dynalite; two instances share them. */

let env: EmulatedPlatform;
beforeAll(async () => {
  env = await startEmulatedPlatform();
});
afterAll(() => env?.stop());

const HOUR = 3_600_000;
let tenantSeq = 0;
const setup = () => {
  const tenantId = `grants-${++tenantSeq}`;
  const table = env.gatewayEnv[ENV.tasksTable]!;
  const clock = new ManualClock(new Date('2026-11-26T10:00:00.000Z'));
  const instance = () => ({ roleGrants: new DynamoDbRoleGrants(new DynamoDBClient(env.emulators.aws.dynamodb!), table), clock });
  const admin: Principal = { tenantId, subject: 'alice', roles: ['admin'] };
  const bob: Principal = { tenantId, subject: 'bob@acme.example', roles: ['viewer'] };
  const inHours = (hours: number) => new Date(clock.now().getTime() + hours * HOUR).toISOString();
  return { tenantId, table, clock, a: instance(), b: instance(), admin, bob, inHours };
};

describe('DynamoDbRoleGrants against dynalite', () => {
  it('a grant round-trips: stored in the tenant partition with its TTL, active on another instance until `until`', async () => {
    const { tenantId, table, clock, a, b, admin, bob, inHours } = setup();
    const grant = await grantRole(a, admin, { subject: bob.subject, role: 'approver', until: inHours(2), reason: 'on call' });
    const doc = DynamoDBDocumentClient.from(env.dynamodb);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { [TASKS_TABLE.partitionKey]: grantKeys.tenant(tenantId), [TASKS_TABLE.sortKey]: grantKeys.grant(grant.grantId) } }));
    expect(Item).toMatchObject({ subject: bob.subject, role: 'approver', until: grant.until, reason: 'on call', grantedBy: 'alice' });
    expect(Item![TASKS_TABLE_TTL_ATTRIBUTE]).toBe(Math.floor((Date.parse(grant.until) + GRANT_HISTORY_DAYS * 86_400_000) / 1000));
    expect(Object.keys(Item!).filter((k) => /^(gsi|dpk|dlpk|qpk|rpk|cpk)/.test(k))).toEqual([]);

    expect((await effectivePrincipal(b, bob, clock.now())).roles).toEqual(['viewer', 'approver']);
    clock.advance(2 * HOUR - 1);
    expect((await effectivePrincipal(b, bob, clock.now())).roles).toEqual(['viewer', 'approver']);
    clock.advance(1);
    expect((await effectivePrincipal(b, bob, clock.now())).roles).toEqual(['viewer']);
  });

  it('revoke: the role is gone at once on every instance; revoking again or an expired grant changes nothing', async () => {
    const { clock, a, b, admin, bob, inHours } = setup();
    const revocable = await grantRole(a, admin, { subject: bob.subject, role: 'submitter', until: inHours(5) });
    const expiring = await grantRole(a, admin, { subject: bob.subject, role: 'approver', until: inHours(1) });
    clock.advance(HOUR);
    const revoked = await revokeRole(b, admin, { grantId: revocable.grantId });
    expect(revoked).toMatchObject({ revoked: true, grant: { status: 'revoked', revokedBy: 'alice', revokedAt: clock.now().toISOString() } });
    expect((await effectivePrincipal(a, bob, clock.now())).roles).toEqual(['viewer']);

    clock.advance(1000);
    const again = await revokeRole(a, admin, { grantId: revocable.grantId });
    expect(again).toMatchObject({ revoked: false, grant: { revokedAt: revoked.grant.revokedAt } });
    const expired = await revokeRole(a, admin, { grantId: expiring.grantId });
    expect(expired).toMatchObject({ revoked: false, grant: { status: 'expired' }, message: expect.stringMatching(/already expired/) });
    expect(expired.grant.revokedAt).toBeUndefined();
  });

  it('concurrent revokes from two instances: exactly one revokes', async () => {
    const { a, b, admin, bob, inHours } = setup();
    const { grantId } = await grantRole(a, admin, { subject: bob.subject, role: 'submitter', until: inHours(1) });
    const outcomes = await Promise.all([revokeRole(a, admin, { grantId }), revokeRole(b, admin, { grantId })]);
    expect(outcomes.filter((o) => o.revoked)).toHaveLength(1);
  });

  it('an unknown grant, or another tenant\'s, is NOT_FOUND', async () => {
    const { a, admin, bob, inHours } = setup();
    const { grantId } = await grantRole(a, admin, { subject: bob.subject, role: 'submitter', until: inHours(1) });
    const other = setup();
    await expect(revokeRole(other.a, other.admin, { grantId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await effectivePrincipal(a, bob, a.clock.now())).roles).toContain('submitter');
  });

  it('lists every grant with its status, history kept, page by page with a cursor, by subject without mixing look-alike subjects', async () => {
    const { clock, a, b, admin, bob, inHours } = setup();
    const subjects = [bob.subject, 'carol', 'ca', 'carol#2'];
    const made = [];
    for (const subject of subjects) made.push(await grantRole(a, admin, { subject, role: 'submitter', until: inHours(1) }));
    clock.advance(1); // grants of one millisecond have no order among themselves
    made.push(await grantRole(a, admin, { subject: 'carol', role: 'approver', until: inHours(3) }));
    await revokeRole(a, admin, { grantId: made[0]!.grantId });
    clock.advance(2 * HOUR);

    const seen = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listRoleGrants(b, admin, { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.grants);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen.map((g) => g.grantId).sort()).toEqual(made.map((g) => g.grantId).sort());
    expect(Object.fromEntries(seen.map((g) => [`${g.subject}/${g.role}`, g.status]))).toEqual({
      [`${bob.subject}/submitter`]: 'revoked',
      'carol/submitter': 'expired',
      'ca/submitter': 'expired',
      'carol#2/submitter': 'expired',
      'carol/approver': 'active',
    });

    const carols = await listRoleGrants(b, admin, { subject: 'carol' });
    expect(carols.grants.map((g) => g.role)).toEqual(['submitter', 'approver']);
    expect((await effectivePrincipal(a, { ...bob, subject: 'ca' }, clock.now())).roles).toEqual(['viewer']);
    expect((await effectivePrincipal(a, { ...bob, subject: 'carol' }, clock.now())).roles).toEqual(['viewer', 'approver']);
  });

  it('a cursor of another listing is refused as INVALID_INPUT', async () => {
    const { a, admin, inHours } = setup();
    await grantRole(a, admin, { subject: 'dave', role: 'viewer', until: inHours(1) });
    await grantRole(a, admin, { subject: 'dave', role: 'submitter', until: inHours(1) });
    const { nextCursor } = await listRoleGrants(a, admin, { subject: 'dave', limit: 1 });
    expect(nextCursor).toBeDefined();
    await expect(listRoleGrants(a, admin, { subject: 'erin', cursor: nextCursor! })).rejects.toBeInstanceOf(ValidationError);
    await expect(listRoleGrants(a, admin, { cursor: Buffer.from('TASK#x').toString('base64url') })).rejects.toBeInstanceOf(ValidationError);
  });
});
