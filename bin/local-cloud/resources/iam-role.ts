import { physicalName, type ResourceHandler } from './resource-handler';

/**
 * `AWS::IAM::Role` → an identity only: functions run in-process with the emulators' credentials and
 * the emulators enforce no IAM, but a role's ARN reaches the functions (the gateway's TENANT_ROLE_ARN,
 * which it assumes through the local STS), so `Ref` (the role name), `Arn` and `RoleId` must resolve
 * to what IAM would give: `arn:aws:iam::<account>:role/<name>`.
 */
export const iamRole = {
  type: 'AWS::IAM::Role',
  identity: (ctx, { stackName, id }) => {
    const name = physicalName(stackName, id).slice(0, 64);
    return { ref: name, attributes: { Arn: `arn:aws:iam::${ctx.accountId}:role/${name}`, RoleId: `AROA${name.replace(/[^A-Za-z0-9]/g, '').slice(0, 17).toUpperCase()}` } };
  },
} satisfies ResourceHandler;
