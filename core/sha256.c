/* sha256.c — SHA-256 through OpenSSL's EVP digest interface, used to fingerprint input files,
 * model files and configurations. libcrypto picks the fastest block function the CPU has (the
 * SHA extensions on x86 and ARMv8 where present), so nothing here is architecture-specific.
 * It deliberately offers no other digest and no HMAC. */
#include <openssl/evp.h>

#include "core/core.h"

static us_status no_context(us_sha256 *s, us_err *err) {
    s->ctx = NULL;
    return us_err_set(err, US_ENOMEM, NULL, 0, "sha256", "libcrypto could not start a digest");
}

us_status us_sha256_init(us_sha256 *s, us_err *err) {
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx) return no_context(s, err);
    if (EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->ctx);
        return no_context(s, err);
    }
    return US_OK;
}

void us_sha256_update(us_sha256 *s, const void *data, size_t n) {
    US_ASSERT(s->ctx);
    if (n == 0) return;
    int ok = EVP_DigestUpdate(s->ctx, data, n);
    US_ASSERT(ok == 1); /* fails only on a context in the wrong state */
}

void us_sha256_final(us_sha256 *s, uint8_t digest[32]) {
    US_ASSERT(s->ctx);
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(s->ctx, digest, &len);
    US_ASSERT(ok == 1 && len == 32);
    us_sha256_free(s);
}

us_status us_sha256_copy(us_sha256 *dst, const us_sha256 *src, us_err *err) {
    US_ASSERT(src->ctx);
    dst->ctx = EVP_MD_CTX_new();
    if (!dst->ctx) return no_context(dst, err);
    if (EVP_MD_CTX_copy_ex(dst->ctx, src->ctx) != 1) {
        EVP_MD_CTX_free(dst->ctx);
        return no_context(dst, err);
    }
    return US_OK;
}

void us_sha256_free(us_sha256 *s) {
    if (!s) return;
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}

us_status us_sha256_digest(const void *data, size_t n, uint8_t digest[32], us_err *err) {
    us_sha256 s;
    us_status st = us_sha256_init(&s, err);
    if (st != US_OK) return st;
    us_sha256_update(&s, data, n);
    us_sha256_final(&s, digest);
    return US_OK;
}

void us_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char xd[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = xd[digest[i] >> 4];
        hex[2 * i + 1] = xd[digest[i] & 15];
    }
    hex[64] = '\0';
}
