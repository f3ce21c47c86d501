/*
 * gw_upload.h - uploads and downloads through the file store (yw-files, the upstream
 * named "files"): two phases of the request pipeline.
 *
 * upload    (after access, before upstream) on a route with .upload: the body, as
 *           multipart/form-data (RFC 7578, what wx.uploadFile sends) or raw, is read
 *           part by part; each file is hashed (SHA-256) and sent to the store in
 *           chunks of 256 KiB, one call at a time, the next read only once the chunk
 *           before is stored (the request suspends meanwhile); the route's limits are
 *           enforced as the bytes come: a file past max_bytes 413, more than
 *           max_files 400, a type not allowed or contradicted by the bytes 415 (from
 *           the first bytes, before anything is stored). Files are committed only once
 *           the whole body has been read and found good, so a refused request commits
 *           nothing (its staged uploads are aborted, or purged by the store). Each
 *           Commit is a hold on its blob: when the method then does not answer OK
 *           (gw_upload_release), or the upload fails after some Commits, the
 *           request gives its holds back (Release) and a blob no upload holds goes. The
 *           method then gets FileRef references in the route's field and the other
 *           form fields set on its request fields by name (unknown names 400).
 * download  (same place) on a route with .download: the route's method is the owning
 *           service's authorisation of the file named by the request's SHA-256 field;
 *           its error answers as any (403, 404); its OK lets the gateway answer the file
 *           from the store: ETag (the SHA-256), 304 on If-None-Match, one Range (206,
 *           416), content-type and content-disposition (the answer's `name` field when
 *           it has one), read in pieces of at most 1 MiB.
 *
 * An upload's body is not collected first: the connection hands it on as it arrives
 * (gw_request_body_stream), within the route's own limit rather than
 * YW_GATEWAY_MAX_BODY. Nor is a download's answer: it is streamed with its length
 * (gw_conn_stream_write), each next piece read from the store once the client has
 * taken the last (req->writable), so a file of any size costs about one piece.
 */
#ifndef GW_UPLOAD_H
#define GW_UPLOAD_H

#include "gw.h"

enum gw_phase_result gw_phase_upload(gw_req *r);
/* For gw_request_body_stream: the largest body of r's route when it is an upload
 * route (its body is then streamed), else 0. At the end of r's head. */
size_t gw_upload_body_limit(gw_req *r);
enum gw_phase_result gw_phase_download(gw_req *r);
/* r's upload route did not get OK from its service (a refusal, a failed call, or no
 * call): the holds its Commits took on the store's blobs are given back, in one
 * Release on the worker's loop that nobody waits for (its failure is logged and
 * counted; those blobs then stay). Once per request: later calls do nothing. A
 * request without committed files: nothing. */
void gw_upload_release(gw_req *r);

#endif
