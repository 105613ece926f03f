import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import { SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas/sqs';
import { TaskMessageSchema } from '../domain/task';

/** An SQS record whose body is a task message: the queue boundary's one schema. */
export const TaskRecordSchema = SqsRecordSchema.extend({ body: JSONStringified(TaskMessageSchema) });
