/*
 * gw_routes.c - the route table of the gateway: every REST route, the gRPC method it
 * reaches and who may call it. A route's gRPC method is also reachable as
 * POST /<package>.<Service>/<Method> (gRPC, gRPC-Web) under the same access rule;
 * methods not listed here are not reachable through the gateway at all.
 *
 * Order matters: the first matching template wins.
 *
 * Each route names its upstream ("catalog": the address in YW_UPSTREAM_CATALOG); the
 * gateway does not start when one is not configured. A method with no REST route may
 * still be reachable over gRPC (and gRPC-Web) only, under its access rule:
 *   {NULL, NULL, SVC "Method", NULL, GW_ACCESS_STAFF, 0, "platform_admin", 0, "svc"},
 */
#include "gw_routes.h"

/* A row gives the fields it needs in order; the fields after upstream are zero unless
 * the row names them (.idempotent = ...), so rows stay short. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "yiwang/applications/v1/alerts.pb-c.h"
#include "yiwang/applications/v1/applications.pb-c.h"
#include "yiwang/applications/v1/licenses.pb-c.h"
#include "yiwang/applications/v1/ratings.pb-c.h"
#include "yiwang/catalog/v1/catalog.pb-c.h"
#include "yiwang/feed/v1/feed.pb-c.h"
#include "yiwang/identity/v1/identity.pb-c.h"
#include "yiwang/payment/v1/finance.pb-c.h"
#include "yiwang/payment/v1/receipts.pb-c.h"
#include "yiwang/payment/v1/payment.pb-c.h"
#include "yiwang/progress/v1/progress.pb-c.h"

#define ALERTS "yiwang.applications.v1.AlertsService/"
#define APPLICATIONS "yiwang.applications.v1.ApplicationsService/"
#define CATALOG "yiwang.catalog.v1.CatalogService/"
#define LICENSES "yiwang.applications.v1.LicensesService/"
#define RATINGS "yiwang.applications.v1.RatingsService/"
#define FEED "yiwang.feed.v1.FeedService/"
#define IDENTITY "yiwang.identity.v1.IdentityService/"
#define FINANCE "yiwang.payment.v1.FinanceService/"
#define RECEIPTS "yiwang.payment.v1.ReceiptsService/"
#define PAYMENT "yiwang.payment.v1.PaymentService/"
#define PROGRESS "yiwang.progress.v1.ProgressService/"

/* an application's materials: scans and photos of documents */
static const gw_upload_def material_files = {"files", 10 << 20, 5, "application/pdf,image/jpeg,image/png", 0};

/* a catalog item's blank and sample forms and result samples: documents, spreadsheets
 * and scans a department publishes with its guides */
static const gw_upload_def item_files = {"files", 10 << 20, 10,
                                         "application/pdf,image/jpeg,image/png,"
                                         "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                         0};

/* How long a gateway worker keeps the catalog's public answers (gw_cache.h): what the
 * catalog publishes reaches every gateway copy within this, and at once through the
 * copy that took the write. */
#define PUBLIC_READ_MS 2000

const gw_route_def gw_route_defs[] = {
    /* The catalog of service items and their guides: the same answer for everyone, kept
     * by the gateway for PUBLIC_READ_MS. */
    {"GET", "/v1/items", CATALOG "ListItems", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    {"GET", "/v1/items/{code}", CATALOG "GetItem", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    {"GET", "/v1/items/{code}/versions", CATALOG "ListItemVersions", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    /* An item's blank and sample forms and result samples (the files its guide names),
     * for anyone, as the guide: the catalog answers whether the item's published version
     * (or ?version=N) names the file, the gateway answers it from the store. */
    {"GET", "/v1/items/{code}/files/{sha256}", CATALOG "GetItemFile", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0,
     "catalog", .download = "sha256"},
    {"GET", "/v1/bundles", CATALOG "ListBundles", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    {"GET", "/v1/bundles/{code}", CATALOG "GetBundle", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    {"GET", "/v1/departments", CATALOG "ListDepartments", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    {"GET", "/v1/regions", CATALOG "ListRegions", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    {"GET", "/v1/topics", CATALOG "ListTopics", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "catalog", .cache_ms = PUBLIC_READ_MS},
    /* Catalog writes: a department's administrators (for their own department, checked
     * by the catalog) and platform administrators. */
    {"PUT", "/v1/items/{item.impl_code}", CATALOG "UpsertItem", "*", GW_ACCESS_STAFF, 0,
     "dept_admin,platform_admin", 0, "catalog", .idempotent = GW_IDEM_OPTIONAL},
    /* The files a department's items then name in their forms and results (multipart:
     * up to 10 PDF, DOCX, XLSX, JPEG or PNG files of at most 10 MiB in `files`); their
     * FileRefs come back to be put in the item. */
    {"POST", "/v1/item-files", CATALOG "UploadItemFiles", NULL, GW_ACCESS_STAFF, 0,
     "dept_admin,platform_admin", 0, "catalog", .upload = &item_files},
    /* A platform administrator takes down a file published by mistake: no item serves
     * it any more, no write names it (audited by the catalog). */
    {"POST", "/v1/item-files/{sha256}:withdraw", CATALOG "WithdrawItemFile", "*", GW_ACCESS_STAFF, 0,
     "platform_admin", 0, "catalog"},
    /* An item's newest version, a pending draft included: its department's staff
     * (checked by the catalog) and platform administrators; never kept. */
    {"GET", "/v1/items/{code}/draft", CATALOG "GetItemDraft", NULL, GW_ACCESS_STAFF, 0,
     "dept_admin,dept_staff,platform_admin", 0, "catalog"},

    /* Login, sessions and the account (统一身份认证). */
    {"POST", "/v1/auth/sms-codes", IDENTITY "SendSmsCode", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "identity"},
    {"POST", "/v1/auth/sessions", IDENTITY "CreateSession", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "identity"},
    {"POST", "/v1/auth/sessions:refresh", IDENTITY "RefreshSession", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "identity"},
    /* Staff enrol their second factor (TOTP) with their password. */
    {"POST", "/v1/auth/totp-enrolments", IDENTITY "EnrolTotp", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "identity"},
    {"POST", "/v1/auth/totp-enrolments:confirm", IDENTITY "ConfirmTotp", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "identity"},
    {"DELETE", "/v1/auth/sessions/current", IDENTITY "DeleteSession", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "identity"},
    {"DELETE", "/v1/auth/sessions", IDENTITY "DeleteSessions", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "identity"},
    {"GET", "/v1/me", IDENTITY "GetMe", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "identity"},
    {"POST", "/v1/me/realname", IDENTITY "UpgradeRealname", "*", GW_ACCESS_PERSON, 0, NULL, 1, "identity"},
    {"POST", "/v1/me/legal-persons", IDENTITY "BindLegalPerson", "*", GW_ACCESS_PERSON, 0, NULL, 2, "identity"},
    {"POST", "/v1/me/acting-for", IDENTITY "ActFor", "*", GW_ACCESS_PERSON, 0, NULL, 2, "identity"},
    /* A company's legal representative authorises agents (授权经办人) and revokes them. */
    {"POST", "/v1/me/legal-persons/{credit_code}/agents", IDENTITY "AuthorizeAgent", "*", GW_ACCESS_PERSON, 0, NULL, 2, "identity"},
    {"GET", "/v1/me/legal-persons/{credit_code}/agents", IDENTITY "ListAgents", NULL, GW_ACCESS_PERSON, 0, NULL, 2, "identity"},
    {"DELETE", "/v1/me/legal-persons/{credit_code}/agents/{agent_id}", IDENTITY "RevokeAgent", NULL, GW_ACCESS_PERSON, 0, NULL, 2, "identity"},
    {"GET", "/v1/company", IDENTITY "GetActingCompany", NULL, GW_ACCESS_LEGAL_PERSON, 0, NULL, 2, "identity"},
    {"GET", "/v1/me/data-access-log", IDENTITY "ListDataAccess", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "identity"},
    {"GET", "/v1/persons/{subject}", IDENTITY "GetPerson", NULL, GW_ACCESS_STAFF, 0,
     "dept_staff,dept_admin,platform_admin", 0, "identity"},
    {"GET", "/v1/audit-records", IDENTITY "ListAuditRecords", NULL, GW_ACCESS_STAFF, 0, "auditor", 0, "identity"},

    /* Applications (办件): a resident applies (the item says the real-name level it needs,
     * checked by the service) and follows them; the applicant or staff of one of its
     * departments reads one. */
    {"POST", "/v1/applications", APPLICATIONS "SubmitApplication", "*", GW_ACCESS_PERSON, 0, NULL, 1,
     "applications", .idempotent = GW_IDEM_OPTIONAL},
    {"GET", "/v1/applications/{number}", APPLICATIONS "GetApplication", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "applications"},
    {"POST", "/v1/applications/{number}:withdraw", APPLICATIONS "WithdrawApplication", "*", GW_ACCESS_PERSON, 0, NULL, 1, "applications"},
    {"POST", "/v1/applications/{number}:resubmit", APPLICATIONS "ResubmitApplication", "*", GW_ACCESS_PERSON, 0, NULL, 1, "applications"},
    {"GET", "/v1/me/applications", APPLICATIONS "ListMyApplications", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "applications"},
    /* A department's work queue and steps: its own staff (checked by the service). */
    {"GET", "/v1/departments/{department}/applications", APPLICATIONS "ListDepartmentApplications", NULL,
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    {"POST", "/v1/departments/{department}/applications/{number}:accept", APPLICATIONS "AcceptApplication", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    {"POST", "/v1/departments/{department}/applications/{number}:reject", APPLICATIONS "RejectApplication", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    {"POST", "/v1/departments/{department}/applications/{number}:start-review", APPLICATIONS "StartReview", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    {"POST", "/v1/departments/{department}/applications/{number}:request-supplement", APPLICATIONS "RequestSupplement", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    {"POST", "/v1/departments/{department}/applications/{number}:decide", APPLICATIONS "DecideApplication", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    {"POST", "/v1/departments/{department}/applications/{number}:complete", APPLICATIONS "CompleteApplication", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin,platform_admin", 0, "applications"},
    /* Supervision alerts (督办提醒): a department's staff list and acknowledge their own
     * (checked by the service); supervisors list every department's red and overdue ones. */
    {"GET", "/v1/departments/{department}/alerts", ALERTS "ListAlerts", NULL, GW_ACCESS_STAFF, 0,
     "dept_staff,dept_admin,platform_admin,auditor", 0, "applications"},
    {"POST", "/v1/departments/{department}/alerts/{id}:acknowledge", ALERTS "AcknowledgeAlert", "*",
     GW_ACCESS_STAFF, 0, "dept_staff,dept_admin", 0, "applications"},
    {"GET", "/v1/alerts", ALERTS "ListAlerts", NULL, GW_ACCESS_STAFF, 0, "platform_admin,auditor", 0, "applications"},
    /* The working-day calendar of a year: loaded by platform administrators (audited), read by anyone */
    {"PUT", "/v1/calendar/{year}", APPLICATIONS "PutCalendar", "*", GW_ACCESS_STAFF, 0, "platform_admin", 0, "applications"},
    {"GET", "/v1/calendar/{year}", APPLICATIONS "GetCalendar", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "applications"},

    /* Electronic licenses (电子证照): the holder's own; the holder or staff of the issuing
     * department read one (checked by the service); anyone verifies one and fetches the
     * seal's public key; the issuer's administrators revoke. */
    {"GET", "/v1/me/licenses", LICENSES "ListMyLicenses", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "applications"},
    {"GET", "/v1/licenses:public-key", LICENSES "GetSealPublicKey", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "applications"},
    {"POST", "/v1/licenses:verify", LICENSES "VerifyLicenseContent", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "applications"},
    {"GET", "/v1/licenses/{number}:verify", LICENSES "VerifyLicense", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "applications"},
    {"GET", "/v1/licenses/{number}", LICENSES "GetLicense", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "applications"},
    {"POST", "/v1/departments/{department}/licenses/{number}:revoke", LICENSES "RevokeLicense", "*",
     GW_ACCESS_STAFF, 0, "dept_admin", 0, "applications"},
    /* Materials: the applicant's files for one of the item's materials (multipart: the
     * field `material` and up to 5 PDF/JPEG/PNG files of at most 10 MiB in `files`), and
     * their download by the applicant or the application's departments (the service
     * decides who; staff reads are audited there). */
    {"POST", "/v1/applications/{number}/materials", APPLICATIONS "AddMaterial", NULL, GW_ACCESS_PERSON,
     0, NULL, 1, "applications", .upload = &material_files},
    {"GET", "/v1/applications/{number}/materials/{sha256}", APPLICATIONS "GetMaterialFile", NULL,
     GW_ACCESS_ACCOUNT, 0, NULL, 0, "applications", .download = "sha256"},
    /* 一件事一次办: a life-event bundle filed once (one application per member), and the
     * applicant's combined view of it */
    {"POST", "/v1/bundles/{bundleCode}/applications", APPLICATIONS "SubmitBundle", "*", GW_ACCESS_PERSON,
     0, NULL, 1, "applications", .idempotent = GW_IDEM_OPTIONAL},
    {"GET", "/v1/me/bundle-filings/{number}", APPLICATIONS "GetBundleFiling", NULL, GW_ACCESS_PERSON,
     0, NULL, 1, "applications"},

    /* 好差评 ratings: the applicant rates an ended application once, a resident a channel or
     * hall once a day; bad ones open rectification cases that the department's staff answer
     * and close, the rater (or staff, by phone) revisits, supervisors list; counts are public. */
    {"POST", "/v1/applications/{number}/rating", RATINGS "RateApplication", "*", GW_ACCESS_PERSON, 0, NULL, 1,
     "applications", .idempotent = GW_IDEM_OPTIONAL},
    {"POST", "/v1/applications/{number}:rate", RATINGS "RateApplication", "*", GW_ACCESS_PERSON, 0, NULL, 1,
     "applications", .idempotent = GW_IDEM_OPTIONAL},
    {"POST", "/v1/ratings", RATINGS "CreateRating", "*", GW_ACCESS_PERSON, 0, NULL, 1, "applications",
     .idempotent = GW_IDEM_OPTIONAL},
    {"GET", "/v1/me/ratings", RATINGS "ListMyRatings", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "applications"},
    {"GET", "/v1/ratings/summary", RATINGS "GetRatingSummary", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "applications"},
    {"GET", "/v1/rectifications", RATINGS "ListRectifications", NULL, GW_ACCESS_STAFF, 0,
     "dept_staff,dept_admin,platform_admin,auditor", 0, "applications"},
    {"GET", "/v1/rectifications/{id}", RATINGS "GetRectification", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "applications"},
    {"POST", "/v1/rectifications/{id}:answer", RATINGS "AnswerRectification", "*", GW_ACCESS_STAFF, 0,
     "dept_staff,dept_admin", 0, "applications"},
    {"POST", "/v1/rectifications/{id}:revisit", RATINGS "RevisitRectification", "*", GW_ACCESS_ACCOUNT, 0, NULL, 0,
     "applications"},
    {"POST", "/v1/rectifications/{id}:close", RATINGS "CloseRectification", "*", GW_ACCESS_STAFF, 0,
     "dept_staff,dept_admin", 0, "applications"},

    /* A resident's feed: newest first, and live as Server-Sent Events (or a gRPC stream). */
    {"GET", "/v1/me/feed/entries", FEED "ListFeed", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "feed"},
    {"GET", "/v1/me/feed", FEED "WatchFeed", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "feed",
     .stream = 1, .event_id = "id", .event = "entry"},

    /* Progress of applications (办件进度查询): by number and query code without signing in
     * (wrong tries limited by the service), and the signed-in applicant's own. */
    {"GET", "/v1/progress/{number}", PROGRESS "GetProgress", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "progress"},
    /* 一件事一次办: a bundle filing's combined progress, by its number and query code */
    {"GET", "/v1/progress/bundles/{number}", PROGRESS "GetBundleProgress", NULL,
     GW_ACCESS_PUBLIC, 0, NULL, 0, "progress"},
    {"GET", "/v1/me/progress", PROGRESS "ListMyProgress", NULL, GW_ACCESS_PERSON, 0, NULL, 1, "progress"},
    {"POST", "/v1/me/progress:batchGet", PROGRESS "BatchGetProgress", "*", GW_ACCESS_PERSON, 0, NULL, 1, "progress"},
    /* Supervision statistics: a department's staff for their own; administrators and
     * auditors for any (checked by the service). */
    {"GET", "/v1/statistics", PROGRESS "GetStatistics", NULL, GW_ACCESS_STAFF, 0,
     "dept_staff,dept_admin,platform_admin,auditor", 0, "progress"},
    /* Rebuilding the progress projection from the event stream, a batch per call */
    {"POST", "/v1/admin/progress:replay", PROGRESS "ReplayEvents", "*", GW_ACCESS_STAFF, 0,
     "platform_admin", 0, "progress"},

    /* Unified payment (统一公共支付). Department staff issue payment notices (a fine or
     * a fee) to their own department, once per Idempotency-Key; the payer, the payee
     * department and finance read an order (checked by the service); anyone holding a
     * notice code (缴款码) finds what to pay and pays it. A resident asks the same route
     * for the order of their application's fee ({"applicationNumber"}): any signed-in
     * account reaches it, and the service takes a notice only from department staff and
     * an application's order only from its applicant (payment/app_fee.c). The routes that
     * take a code or number from anyone are limited per address besides the general
     * limit (GW_LIMIT_LOOKUP), so codes cannot be tried at the general anonymous rate. */
    {"POST", "/v1/payments/orders", PAYMENT "CreateOrder", "*", GW_ACCESS_ACCOUNT, 0, NULL, 0, "payment",
     .idempotent = GW_IDEM_REQUIRED},
    {"GET", "/v1/payments/orders/{id}", PAYMENT "GetOrder", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "payment"},
    {"GET", "/v1/payments/orders/{id}/qr", PAYMENT "GetOrderQr", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0, "payment"},
    {"GET", "/v1/payments/notices/{code}", PAYMENT "GetNotice", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment",
     .limit = GW_LIMIT_LOOKUP},
    {"POST", "/v1/payments/orders/{id}:pay", PAYMENT "PayOrder", "*", GW_ACCESS_PERSON, 0, NULL, 1, "payment"},
    {"POST", "/v1/payments/notices/{notice_code}:pay", PAYMENT "PayOrder", "*", GW_ACCESS_PUBLIC, 0, NULL, 0, "payment",
     .limit = GW_LIMIT_LOOKUP},
    /* A channel's notification (public; its signature is checked by the service over the
     * exact bytes): the raw body and the signature headers, at most 16 KiB. The service's
     * OK answers {"code":"SUCCESS"} with 200; any error is a non-2xx, so the channel
     * sends it again. */
    {"POST", "/v1/payments/notify/{channel}", PAYMENT "Notify", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0, "payment",
     .raw_body = "body", .raw_body_max = 16 * 1024,
     .headers = "yw-pay-timestamp=timestamp,yw-pay-nonce=nonce,yw-pay-serial=serial,yw-pay-signature=signature"},
    /* Refunds: finance staff, or the payee department's administrator (checked by the
     * service), once per Idempotency-Key. */
    {"POST", "/v1/payments/orders/{id}:refund", PAYMENT "RefundOrder", "*", GW_ACCESS_STAFF, 0,
     "finance,dept_admin", 0, "payment", .idempotent = GW_IDEM_REQUIRED},
    /* Fiscal e-receipts (财政电子票据): an order's receipts whole (content and signature)
     * for its payer, the payee department and finance (checked by the service); anyone
     * holding a receipt checks it by number and the verify code printed on it. */
    {"GET", "/v1/payments/orders/{id}/receipt", RECEIPTS "GetOrderReceipt", NULL, GW_ACCESS_ACCOUNT, 0, NULL, 0,
     "payment"},
    {"GET", "/v1/payments/receipts/{number}", RECEIPTS "VerifyReceipt", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0,
     "payment", .limit = GW_LIMIT_LOOKUP},
    /* The seal's public key, for checking receipts offline. */
    {"GET", "/v1/payments/receipt-seal", RECEIPTS "GetSealKey", NULL, GW_ACCESS_PUBLIC, 0, NULL, 0,
     "payment"},

    /* Daily reconciliation (FinanceService, served by yw-payment): finance staff import
     * a channel's statement, run a day and resolve its exceptions (maker-checker, the
     * checker another finance user: checked by the service); auditors read. */
    {"POST", "/v1/finance/statements:import", FINANCE "ImportStatement", "*", GW_ACCESS_STAFF, 0,
     "finance", 0, "payment"},
    /* A statement file uploaded from the console: the raw body (CSV as the channel
     * writes it, at most 8 MiB and YW_GATEWAY_MAX_BODY), channel and date in the path,
     * ?force=true&reason=... to replace a statement fetched from the channel (audited by
     * the service). Finance staff only. */
    {"POST", "/v1/finance/statements/{channel}/{date}:upload", FINANCE "ImportStatement", NULL,
     GW_ACCESS_STAFF, 0, "finance", 0, "payment", .raw_body = "csv", .raw_body_max = 8 << 20,
     .headers = "content-type=upload_content_type"},
    {"POST", "/v1/finance/reconciliations", FINANCE "RunReconciliation", "*", GW_ACCESS_STAFF, 0,
     "finance", 0, "payment"},
    {"GET", "/v1/finance/reconciliations/{channel}/{date}", FINANCE "GetReconciliation", NULL,
     GW_ACCESS_STAFF, 0, "finance,auditor", 0, "payment"},
    {"GET", "/v1/finance/exceptions", FINANCE "ListExceptions", NULL, GW_ACCESS_STAFF, 0,
     "finance,auditor", 0, "payment"},
    /* orders in EXCEPTION (status=EXCEPTION), the payer masked; refunded by RefundOrder */
    {"GET", "/v1/finance/orders", FINANCE "ListOrders", NULL, GW_ACCESS_STAFF, 0,
     "finance,auditor", 0, "payment"},
    /* refunds to the payer (reconciliation's REFUND): listed; a refused one retried or
     * written off under maker-checker (checked by the service) */
    {"GET", "/v1/finance/payer-refunds", FINANCE "ListPayerRefunds", NULL, GW_ACCESS_STAFF, 0,
     "finance,auditor", 0, "payment"},
    {"POST", "/v1/finance/payer-refunds/{outRefundNo}:propose", FINANCE "ProposePayerRefund", "*",
     GW_ACCESS_STAFF, 0, "finance", 0, "payment"},
    {"POST", "/v1/finance/payer-refunds/{outRefundNo}:approve", FINANCE "ApprovePayerRefund", "*",
     GW_ACCESS_STAFF, 0, "finance", 0, "payment"},
    {"POST", "/v1/finance/payer-refunds/{outRefundNo}:reject", FINANCE "RejectPayerRefund", "*",
     GW_ACCESS_STAFF, 0, "finance", 0, "payment"},
    {"POST", "/v1/finance/exceptions/{id}:propose", FINANCE "ProposeResolution", "*", GW_ACCESS_STAFF,
     0, "finance", 0, "payment"},
    {"POST", "/v1/finance/exceptions/{id}:approve", FINANCE "ApproveResolution", "*", GW_ACCESS_STAFF,
     0, "finance", 0, "payment"},
    {"POST", "/v1/finance/exceptions/{id}:reject", FINANCE "RejectResolution", "*", GW_ACCESS_STAFF,
     0, "finance", 0, "payment"},
    /* The daily report: as JSON, and as a file to download (?format=csv|xlsx). */
    {"GET", "/v1/finance/reports/daily/summary", FINANCE "GetDailyReport", NULL, GW_ACCESS_STAFF, 0,
     "finance,auditor", 0, "payment"},
    {"GET", "/v1/finance/reports/daily", FINANCE "ExportDailyReport", NULL, GW_ACCESS_STAFF, 0,
     "finance,auditor", 0, "payment", .file_answer = 1},
};
const size_t gw_route_defs_count = sizeof gw_route_defs / sizeof gw_route_defs[0];

const ProtobufCServiceDescriptor *const gw_services[] = {
    &yiwang__applications__v1__applications_service__descriptor,
    &yiwang__catalog__v1__catalog_service__descriptor,
    &yiwang__applications__v1__licenses_service__descriptor,
    &yiwang__applications__v1__ratings_service__descriptor,
    &yiwang__applications__v1__alerts_service__descriptor,
    &yiwang__feed__v1__feed_service__descriptor,
    &yiwang__identity__v1__identity_service__descriptor,
    &yiwang__progress__v1__progress_service__descriptor,
    &yiwang__payment__v1__payment_service__descriptor,
    &yiwang__payment__v1__finance_service__descriptor,
    &yiwang__payment__v1__receipts_service__descriptor,
};
const size_t gw_services_count = sizeof gw_services / sizeof gw_services[0];
