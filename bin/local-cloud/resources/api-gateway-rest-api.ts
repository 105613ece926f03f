import type { ResourceHandler } from './resource-handler';

const ROOT_SUFFIX = '/root';

/** Whether an API resource id is the root (`/`) of a REST API. */
export const isRootResource = (resourceRef: string) => resourceRef.endsWith(ROOT_SUFFIX);

/**
 * `AWS::ApiGateway::RestApi` → an identity only: its id (`local`) and its root resource. The
 * local API Gateway (api-gateway.ts) serves the routes its methods define.
 */
export const apiGatewayRestApi = {
  type: 'AWS::ApiGateway::RestApi',
  identity: (_ctx, { stackName, id }) => ({ ref: 'local', attributes: { RootResourceId: `${stackName}/${id}${ROOT_SUFFIX}` } }),
} satisfies ResourceHandler;
