/** Task priorities, highest first. Each maps to its own FIFO queue and its own QUEUE_URL_* variable. */
export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];
