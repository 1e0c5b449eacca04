/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Certificate → Kerberos principal: decodes the id-pkinit-san otherName with an OpenSSL
 * ASN.1 template (KRB5PrincipalName, RFC 4556 §3.2.2) and the Microsoft UPN otherName.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krb5/krb5.h>
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "common/cleanup.h"
#include "pam_scard/certmap.h"

#define OID_PKINIT_SAN "1.3.6.1.5.2.2"
#define OID_MS_UPN "1.3.6.1.4.1.311.20.2.3"

/* PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString } */
typedef struct {
    ASN1_INTEGER *name_type;
    STACK_OF(ASN1_GENERALSTRING) *name_string;
} KRB5_PRINCNAME;

/* KRB5PrincipalName ::= SEQUENCE { realm [0] Realm, principalName [1] PrincipalName } */
typedef struct {
    ASN1_GENERALSTRING *realm;
    KRB5_PRINCNAME *principal_name;
} KRB5_PKINIT_PRINC;

ASN1_SEQUENCE(KRB5_PRINCNAME) = {
    ASN1_EXP(KRB5_PRINCNAME, name_type, ASN1_INTEGER, 0),
    ASN1_EXP_SEQUENCE_OF(KRB5_PRINCNAME, name_string, ASN1_GENERALSTRING, 1),
} static_ASN1_SEQUENCE_END(KRB5_PRINCNAME)

ASN1_SEQUENCE(KRB5_PKINIT_PRINC) = {
    ASN1_EXP(KRB5_PKINIT_PRINC, realm, ASN1_GENERALSTRING, 0),
    ASN1_EXP(KRB5_PKINIT_PRINC, principal_name, KRB5_PRINCNAME, 1),
} static_ASN1_SEQUENCE_END(KRB5_PKINIT_PRINC)

static void
pkinit_princ_freep(KRB5_PKINIT_PRINC **p)
{
    ASN1_item_free((ASN1_VALUE *)*p, ASN1_ITEM_rptr(KRB5_PKINIT_PRINC));
}

static void
general_names_freep(GENERAL_NAMES **p)
{
    GENERAL_NAMES_free(*p);
}

static void
asn1_object_freep(ASN1_OBJECT **p)
{
    ASN1_OBJECT_free(*p);
}

/* A principal part: printable as is, nothing that would need krb5 quoting. */
static bool
part_ok(const ASN1_STRING *s, const char *forbidden)
{
    const unsigned char *d = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s);

    if (len <= 0)
        return false;
    for (int i = 0; i < len; i++)
        if (d[i] == '\0' || d[i] == '\\' || strchr(forbidden, d[i]))
            return false;
    return true;
}

static int
append(char **buf, size_t *len, const ASN1_STRING *s, const char *sep)
{
    size_t add = strlen(sep) + (size_t)ASN1_STRING_length(s);
    char *n = realloc(*buf, *len + add + 1);

    if (!n)
        return -ENOMEM;
    memcpy(n + *len, sep, strlen(sep));
    memcpy(n + *len + strlen(sep), ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    *len += add;
    n[*len] = '\0';
    *buf = n;
    return 0;
}

static int
from_pkinit_san(const ASN1_TYPE *value, char **ret)
{
    _cleanup_(pkinit_princ_freep) KRB5_PKINIT_PRINC *p = NULL;
    _cleanup_free_ char *out = NULL;
    const unsigned char *der;
    size_t len = 0;
    int n, r;

    if (value->type != V_ASN1_SEQUENCE)
        return -EBADMSG;
    der = ASN1_STRING_get0_data(value->value.sequence);
    p = (KRB5_PKINIT_PRINC *)ASN1_item_d2i(NULL, &der, ASN1_STRING_length(value->value.sequence),
                                           ASN1_ITEM_rptr(KRB5_PKINIT_PRINC));
    if (!p)
        return -EBADMSG;
    n = sk_ASN1_GENERALSTRING_num(p->principal_name->name_string);
    if (n <= 0 || !part_ok(p->realm, "@/"))
        return -EBADMSG;
    for (int i = 0; i < n; i++) {
        ASN1_GENERALSTRING *s = sk_ASN1_GENERALSTRING_value(p->principal_name->name_string, i);

        if (!part_ok(s, "@/"))
            return -EBADMSG;
        r = append(&out, &len, s, i ? "/" : "");
        if (r < 0)
            return r;
    }
    r = append(&out, &len, p->realm, "@");
    if (r < 0)
        return r;
    *ret = TAKE_PTR(out);
    return 0;
}

static int
from_upn(const ASN1_TYPE *value, char **ret)
{
    const ASN1_STRING *s;
    const char *d, *at;
    char *out;
    int len;

    if (value->type != V_ASN1_UTF8STRING)
        return -EBADMSG;
    s = value->value.utf8string;
    if (!part_ok(s, "/"))
        return -EBADMSG;
    d = (const char *)ASN1_STRING_get0_data(s);
    len = ASN1_STRING_length(s);
    at = memchr(d, '@', (size_t)len);
    if (!at || at == d || at == d + len - 1 || memchr(at + 1, '@', (size_t)(d + len - at - 1)))
        return -EBADMSG;
    out = strndup(d, (size_t)len);
    if (!out)
        return -ENOMEM;
    for (char *c = out + (at - d) + 1; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    *ret = out;
    return 0;
}

/* First otherName of type @p oid in @p sans, or NULL. */
static const ASN1_TYPE *
find_other_name(const GENERAL_NAMES *sans, const ASN1_OBJECT *oid)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

        if (gn->type == GEN_OTHERNAME && OBJ_cmp(gn->d.otherName->type_id, oid) == 0)
            return gn->d.otherName->value;
    }
    return NULL;
}

int
pamsc_certmap_principal(X509 *cert, char **ret_principal)
{
    _cleanup_(general_names_freep) GENERAL_NAMES *sans = NULL;
    _cleanup_(asn1_object_freep) ASN1_OBJECT *pkinit = OBJ_txt2obj(OID_PKINIT_SAN, 1);
    _cleanup_(asn1_object_freep) ASN1_OBJECT *upn = OBJ_txt2obj(OID_MS_UPN, 1);
    const ASN1_TYPE *value;
    int crit = 0;

    if (!pkinit || !upn)
        return -ENOMEM;
    sans = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (!sans)
        return crit == -1 ? -ENOENT : -EBADMSG;
    value = find_other_name(sans, pkinit);
    if (value)
        return from_pkinit_san(value, ret_principal);
    value = find_other_name(sans, upn);
    if (value)
        return from_upn(value, ret_principal);
    return -ENOENT;
}

int
pamsc_certmap_local_user(const char *principal, char **ret_user)
{
    krb5_context ctx = NULL;
    krb5_principal p = NULL;
    char name[256];
    krb5_error_code e;
    int r;

    if (krb5_init_context(&ctx) != 0)
        return -EIO;
    e = krb5_parse_name(ctx, principal, &p);
    if (e == ENOMEM)
        r = -ENOMEM;
    else if (e)
        r = -EINVAL;
    else if (krb5_aname_to_localname(ctx, p, sizeof(name), name) != 0)
        r = -ENOENT;
    else
        r = (*ret_user = strdup(name)) ? 0 : -ENOMEM;
    krb5_free_principal(ctx, p);
    krb5_free_context(ctx);
    return r;
}
