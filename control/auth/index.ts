// Authentication, authorization (RBAC) and the admission checks that depend on who writes.
export { requestAttributes, type Attributes } from './attributes.js';
export { Authenticator, BOOTSTRAP_TOKEN_TYPE, USER_TOKEN_TYPE, tokensEqual } from './authenticator.js';
export { ClusterAuthorizer, forbidden, isSuperuser, type Authorizer } from './authorizer.js';
export { checkNoEscalation } from './admission.js';
export { impersonated } from './impersonation.js';
export { checkNodeRestriction } from './node-restriction.js';
export { ensureDefaultPolicy, runAggregation } from './bootstrap.js';
export { RbacCache } from './rbac-cache.js';
export { answerReview } from './reviews.js';
export { authenticatedUser, GROUP, isNodeUser, USER, type UserInfo } from './user.js';
export { startClusterAuth, type ClusterAuth, type ClusterAuthOptions } from './cluster-auth.js';
export { API_AUDIENCE, ServiceAccountTokens } from './serviceaccount-tokens.js';
export { issueServiceAccountToken } from './token-request.js';
export { admitPodServiceAccount, SERVICE_ACCOUNT_MOUNT } from './service-accounts.js';
