import { localFunctionName } from './lambda-function';
import { propertiesOf, type ResourceHandler } from './resource-handler';

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;

/**
 * `AWS::Events::Rule` with a `rate(…)` schedule → a local timer that invokes the rule's target
 * functions at that rate. Disabled rules and other schedules (cron) do not run locally.
 */
export const eventsRule = {
  type: 'AWS::Events::Rule',
  phase: 'wire',
  provision: (ctx, rules) => {
    for (const rule of rules) {
      const p = propertiesOf(rule);
      const match = RATE.exec(String(p['ScheduleExpression'] ?? ''));
      if (!match || p['State'] === 'DISABLED') continue;
      const unitMs = match[2]!.startsWith('minute') ? 60_000 : match[2]!.startsWith('hour') ? 3_600_000 : 86_400_000;
      ctx.platform.schedules.push({
        rateMs: Number(match[1]) * unitMs,
        functionNames: ((p['Targets'] ?? []) as { Arn: unknown }[]).map((t) =>
          localFunctionName(ctx, ctx.resolver.string(rule.stackName, t.Arn)),
        ),
      });
    }
  },
} satisfies ResourceHandler;
