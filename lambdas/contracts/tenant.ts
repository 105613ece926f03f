import * as z from 'zod';

/** Tenant ids: what a token's tenant claim, table keys and session tags carry (no `#`, no `/`). */
export const TenantIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'tenant ids are lowercase letters, digits and dashes');
