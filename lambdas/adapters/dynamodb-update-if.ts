import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** One conditional UpdateItem: true when written, false when its condition did not hold (any other error is thrown). */
export const updateIf = async (doc: DynamoDBDocumentClient, command: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> => {
  try {
    await doc.send(new UpdateCommand(command));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
};
