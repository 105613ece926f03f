import { localArn, physicalName, propertiesOf, type ResourceHandler } from './resource-handler';

/**
 * `AWS::StepFunctions::StateMachine` → a state machine of the local Step Functions service
 * (step-functions.ts): its definition as synthesized (function ARNs resolved to the local
 * functions), its type. The service runs it with aws-local-stepfunctions (JSONPath).
 */
export const stepFunctionsStateMachine = {
  type: 'AWS::StepFunctions::StateMachine',
  identity: (ctx, { stackName, id }) => {
    const name = physicalName(stackName, id);
    return { ref: localArn(ctx, 'states', `stateMachine:${name}`), attributes: { Name: name, Arn: localArn(ctx, 'states', `stateMachine:${name}`) } };
  },
  phase: 'wire',
  provision: (ctx, machines) => {
    for (const machine of machines) {
      const p = propertiesOf(machine);
      const name = physicalName(machine.stackName, machine.id);
      const definition = p['DefinitionString'] !== undefined ? JSON.parse(ctx.resolver.string(machine.stackName, p['DefinitionString'])) : p['Definition'];
      if (!definition || typeof definition !== 'object') throw new Error(`local cloud: ${machine.stackName}/${machine.id} has no definition`);
      ctx.platform.stateMachines.push({
        arn: localArn(ctx, 'states', `stateMachine:${name}`),
        name,
        type: p['StateMachineType'] === 'EXPRESS' ? 'EXPRESS' : 'STANDARD',
        definition: definition as object,
      });
    }
  },
} satisfies ResourceHandler;
