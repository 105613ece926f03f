/**
 * The tasks table's key schema: the one definition both the CDK construct and the repository use.
 *
 * Item:    pk = TENANT#<tenant>  sk = TASK#<taskId>
 * byCreated   (gsi1): gsi1pk = TENANT#<tenant>            gsi1sk = <createdAt>#<taskId>
 * byStatus    (gsi2): gsi2pk = TENANT#<tenant>#<status>   gsi2sk = <createdAt>#<taskId>
 * dispatchPending (gsi3, sparse): dpk = PENDING#<shard>   dsk = <createdAt>#<taskId>, present only while
 *   the queue message of a task is not confirmed sent.
 */
export const TASKS_TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  globalIndexes: [
    { indexName: 'byCreated', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
    { indexName: 'byStatus', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
    { indexName: 'dispatchPending', partitionKey: 'dpk', sortKey: 'dsk' },
  ],
} as const;

export const DISPATCH_SHARDS = 8;
