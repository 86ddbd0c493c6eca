/* selfsigned.c - a throw-away localhost certificate and key, made with mbedTLS 2.28. */
#include "selfsigned.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/config.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#define SUBJECT "CN=localhost"
#define DAY_S 86400
#define VALID_DAYS 365
#define SERIAL_BYTES 16
#define DER_MAX 2048
#define PEM_MAX 4096

#define SAN_DNS_TAG (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_IP_TAG (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)
#define SEQUENCE_TAG (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)

static const char drbg_personalisation[] = "mote sample self-signed certificate";

struct builder {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
};

static void builder_init(struct builder *b)
{
    mbedtls_entropy_init(&b->entropy);
    mbedtls_ctr_drbg_init(&b->drbg);
    mbedtls_pk_init(&b->key);
    mbedtls_x509write_crt_init(&b->crt);
    mbedtls_mpi_init(&b->serial);
}

static void builder_free(struct builder *b)
{
    mbedtls_mpi_free(&b->serial);
    mbedtls_x509write_crt_free(&b->crt);
    mbedtls_pk_free(&b->key);
    mbedtls_ctr_drbg_free(&b->drbg);
    mbedtls_entropy_free(&b->entropy);
}

static int fail(char *err, size_t err_len, const char *what, int ret)
{
    char text[160];
    if (err == NULL || err_len == 0)
        return -1;
    if (ret == 0) {
        snprintf(err, err_len, "%s", what);
        return -1;
    }
    mbedtls_strerror(ret, text, sizeof text);
    snprintf(err, err_len, "%s: %s", what, text);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* DER pieces that mbedTLS 2.28 has no helper for. asn1write fills a buffer from its end       */
/* backwards, so every encoder writes the last element first.                                 */
/* ------------------------------------------------------------------------------------------ */

/* Adds a non-negative asn1write result to *total; passes errors through. */
static int add_len(size_t *total, int ret)
{
    if (ret < 0)
        return ret;
    *total += (size_t)ret;
    return 0;
}

/* Writes tag, length and the n bytes of data. */
static int write_tagged(unsigned char **p, unsigned char *start, unsigned char tag,
                        const unsigned char *data, size_t n)
{
    size_t len = 0;
    int ret = add_len(&len, mbedtls_asn1_write_raw_buffer(p, start, data, n));
    if (ret == 0)
        ret = add_len(&len, mbedtls_asn1_write_len(p, start, len));
    if (ret == 0)
        ret = add_len(&len, mbedtls_asn1_write_tag(p, start, tag));
    return ret != 0 ? ret : (int)len;
}

/* Wraps the `len` bytes already written before *p in a SEQUENCE. */
static int wrap_sequence(unsigned char **p, unsigned char *start, size_t *len)
{
    size_t content = *len;
    int ret = add_len(len, mbedtls_asn1_write_len(p, start, content));
    if (ret == 0)
        ret = add_len(len, mbedtls_asn1_write_tag(p, start, SEQUENCE_TAG));
    return ret;
}

/* GeneralNames: DNS:localhost, IP:127.0.0.1, IP:::1. */
static int encode_san(unsigned char *buf, size_t size, unsigned char **out, size_t *out_len)
{
    static const unsigned char ipv4_loopback[4] = { 127, 0, 0, 1 };
    static const unsigned char ipv6_loopback[16] = { [15] = 1 };
    static const char dns_name[] = "localhost";
    unsigned char *p = buf + size;
    size_t len = 0;
    int ret = add_len(&len, write_tagged(&p, buf, SAN_IP_TAG, ipv6_loopback,
                                         sizeof ipv6_loopback));
    if (ret == 0)
        ret = add_len(&len, write_tagged(&p, buf, SAN_IP_TAG, ipv4_loopback,
                                         sizeof ipv4_loopback));
    if (ret == 0)
        ret = add_len(&len, write_tagged(&p, buf, SAN_DNS_TAG,
                                         (const unsigned char *)dns_name, sizeof dns_name - 1));
    if (ret == 0)
        ret = wrap_sequence(&p, buf, &len);
    *out = p;
    *out_len = len;
    return ret;
}

/* ExtKeyUsageSyntax with serverAuth only: without it some clients accept the certificate for
 * any purpose, with it they know exactly what it is for. */
static int encode_eku(unsigned char *buf, size_t size, unsigned char **out, size_t *out_len)
{
    unsigned char *p = buf + size;
    size_t len = 0;
    int ret = add_len(&len, mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    if (ret == 0)
        ret = wrap_sequence(&p, buf, &len);
    *out = p;
    *out_len = len;
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Certificate fields                                                                          */
/* ------------------------------------------------------------------------------------------ */

static int seed_and_generate_key(struct builder *b, char *err, size_t err_len)
{
    int ret = mbedtls_ctr_drbg_seed(&b->drbg, mbedtls_entropy_func, &b->entropy,
                                    (const unsigned char *)drbg_personalisation,
                                    sizeof drbg_personalisation - 1);
    if (ret != 0)
        return fail(err, err_len, "cannot seed the random generator", ret);
    ret = mbedtls_pk_setup(&b->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(b->key),
                                  mbedtls_ctr_drbg_random, &b->drbg);
    if (ret != 0)
        return fail(err, err_len, "cannot generate the P-256 key", ret);
    return 0;
}

static int set_random_serial(struct builder *b)
{
    unsigned char bytes[SERIAL_BYTES];
    int ret = mbedtls_ctr_drbg_random(&b->drbg, bytes, sizeof bytes);
    if (ret != 0)
        return ret;
    /* RFC 5280 wants a positive serial; a set second-highest bit also keeps it non-zero and
     * its encoding a fixed length. */
    bytes[0] = (unsigned char)((bytes[0] & 0x7F) | 0x40);
    ret = mbedtls_mpi_read_binary(&b->serial, bytes, sizeof bytes);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_serial(&b->crt, &b->serial);
    return ret;
}

static int format_asn1_time(time_t t, char out[16])
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return -1;
    return strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

/* From yesterday, so a client whose clock lags a little still accepts it. */
static int set_validity(struct builder *b, char *err, size_t err_len)
{
    time_t not_before = time(NULL) - DAY_S;
    time_t not_after = not_before + (time_t)VALID_DAYS * DAY_S;
    char from[16];
    char until[16];
    int ret;

    if (format_asn1_time(not_before, from) != 0 || format_asn1_time(not_after, until) != 0)
        return fail(err, err_len, "cannot format the certificate validity dates", 0);
    ret = mbedtls_x509write_crt_set_validity(&b->crt, from, until);
    if (ret != 0)
        return fail(err, err_len, "cannot set the certificate validity", ret);
    return 0;
}

static int set_identity(struct builder *b)
{
    int ret;
    mbedtls_x509write_crt_set_version(&b->crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&b->crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&b->crt, &b->key);
    mbedtls_x509write_crt_set_issuer_key(&b->crt, &b->key);
    ret = mbedtls_x509write_crt_set_subject_name(&b->crt, SUBJECT);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_issuer_name(&b->crt, SUBJECT);
    if (ret == 0)
        ret = set_random_serial(b);
    return ret;
}

static int add_name_and_usage_extensions(struct builder *b)
{
    unsigned char buf[128];
    unsigned char *der;
    size_t der_len;
    int ret = encode_san(buf, sizeof buf, &der, &der_len);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_extension(
            &b->crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
            0, der, der_len);
    if (ret == 0)
        ret = encode_eku(buf, sizeof buf, &der, &der_len);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_extension(
            &b->crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, der, der_len);
    return ret;
}

static int add_extensions(struct builder *b)
{
    int ret = mbedtls_x509write_crt_set_basic_constraints(&b->crt, 0, -1);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_key_usage(&b->crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_subject_key_identifier(&b->crt);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_authority_key_identifier(&b->crt);
    if (ret == 0)
        ret = add_name_and_usage_extensions(b);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void format_fingerprint(const unsigned char *der, size_t len, char fingerprint[96])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char hash[32];
    size_t i;

    (void)mbedtls_sha256_ret(der, len, hash, 0);
    for (i = 0; i < sizeof hash; i++) {
        fingerprint[i * 3] = hex[hash[i] >> 4];
        fingerprint[i * 3 + 1] = hex[hash[i] & 0x0F];
        fingerprint[i * 3 + 2] = i + 1 < sizeof hash ? ':' : '\0';
    }
}

static char *copy_string(const unsigned char *text)
{
    size_t len = strlen((const char *)text) + 1;
    char *copy = malloc(len);
    if (copy != NULL)
        memcpy(copy, text, len);
    return copy;
}

/* Signs once and derives the PEM from that DER, so the fingerprint is that of the PEM served. */
static int export_certificate(struct builder *b, char **cert_pem, char fingerprint[96],
                              char *err, size_t err_len)
{
    unsigned char der_buf[DER_MAX];
    unsigned char pem[PEM_MAX];
    const unsigned char *der;
    size_t der_len;
    size_t pem_len;
    int ret = mbedtls_x509write_crt_der(&b->crt, der_buf, sizeof der_buf,
                                        mbedtls_ctr_drbg_random, &b->drbg);
    if (ret < 0)
        return fail(err, err_len, "cannot sign the certificate", ret);
    der_len = (size_t)ret;
    der = der_buf + sizeof der_buf - der_len; /* _der writes at the end of the buffer */
    ret = mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n",
                                   "-----END CERTIFICATE-----\n", der, der_len, pem, sizeof pem,
                                   &pem_len);
    if (ret != 0)
        return fail(err, err_len, "cannot encode the certificate as PEM", ret);
    *cert_pem = copy_string(pem);
    if (*cert_pem == NULL)
        return fail(err, err_len, "out of memory for the certificate", 0);
    format_fingerprint(der, der_len, fingerprint);
    return 0;
}

static int export_key(struct builder *b, char **key_pem, char *err, size_t err_len)
{
    unsigned char pem[PEM_MAX];
    int ret = mbedtls_pk_write_key_pem(&b->key, pem, sizeof pem);
    if (ret == 0) {
        *key_pem = copy_string(pem);
        if (*key_pem == NULL)
            ret = fail(err, err_len, "out of memory for the key", 0);
    } else {
        ret = fail(err, err_len, "cannot encode the key as PEM", ret);
    }
    /* The stack copy of a private key should not outlive this call. */
    mbedtls_platform_zeroize(pem, sizeof pem);
    return ret;
}

static int build(struct builder *b, char **cert_pem, char **key_pem, char fingerprint[96],
                 char *err, size_t err_len)
{
    int ret;
    if (seed_and_generate_key(b, err, err_len) != 0)
        return -1;
    ret = set_identity(b);
    if (ret == 0)
        ret = add_extensions(b);
    if (ret != 0)
        return fail(err, err_len, "cannot fill in the certificate", ret);
    if (set_validity(b, err, err_len) != 0)
        return -1;
    if (export_certificate(b, cert_pem, fingerprint, err, err_len) != 0)
        return -1;
    return export_key(b, key_pem, err, err_len);
}

int selfsigned_create(char **cert_pem, char **key_pem, char fingerprint[96], char *err,
                      size_t err_len)
{
    struct builder b;
    int ret;

    *cert_pem = NULL;
    *key_pem = NULL;
    fingerprint[0] = '\0';
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    builder_init(&b);
    ret = build(&b, cert_pem, key_pem, fingerprint, err, err_len);
    builder_free(&b);
    if (ret != 0) {
        free(*cert_pem);
        *cert_pem = NULL;
        fingerprint[0] = '\0';
    }
    return ret;
}
