/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Kerberos principal a sign-in certificate names: the id-pkinit-san otherName
 * (RFC 4556 §3.2.2) or else the Microsoft UPN otherName, as "name[/instance]@REALM".
 */
#pragma once

#include <openssl/x509.h>

/**
 * Find the principal named in the subjectAltName of @p cert.
 * First id-pkinit-san (otherName 1.3.6.1.5.2.2, KRB5PrincipalName ::= SEQUENCE { realm [0]
 * Realm, principalName [1] PrincipalName }, RFC 4556 §3.2.2, RFC 4120 §5.2.2): the
 * name-string components joined with '/', then '@' and the realm. Otherwise the first
 * Microsoft UPN (otherName 1.3.6.1.4.1.311.20.2.3, UTF8String "user@dns.domain"): the user
 * part, '@' and the domain in upper case as the realm (the usual AD realm convention).
 * @param[in]  cert           not NULL; not modified
 * @param[out] ret_principal  new NUL-terminated string, free(); untouched on failure
 * @return 0; -ENOENT no SAN or neither name in it; -EBADMSG a name that cannot be decoded or
 *         holds characters that would need escaping ('/', '@', '\\', NUL, empty parts);
 *         -ENOMEM
 * Source: RFC 4556 §3.2.2; windows.md §2.3 (UPN OtherName); MIT krb5 pkinit_crypto_openssl.c.
 */
int pamsc_certmap_principal(X509 *cert, char **ret_principal);

/**
 * The local account of @p principal by libkrb5's auth_to_local rules (krb5.conf [realms]
 * auth_to_local; by default the name of a one-component principal of the default realm).
 * @param[in]  principal  "name[/instance]@REALM", not NULL
 * @param[out] ret_user   new NUL-terminated string, free(); untouched on failure
 * @return 0; -ENOENT no local account for it (another realm, no rule); -EINVAL not a principal
 *         name; -EIO libkrb5 cannot start (krb5.conf); -ENOMEM
 * Source: MIT krb5 krb5_aname_to_localname(), krb5.conf(5) auth_to_local.
 */
int pamsc_certmap_local_user(const char *principal, char **ret_user);
