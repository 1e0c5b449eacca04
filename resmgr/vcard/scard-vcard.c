/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scard-vcard: manage virtual PIV cards in the card store — create (key generated in the
 * store), CSR, certificate import, insert/eject, list, destroy, and the reader.conf entry
 * that puts a card into a PC/SC reader. PINs and PUKs come from a file, stdin or the
 * terminal, never from argv or the environment, and are never printed.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "common/config.h"
#include "common/log.h"
#include "common/secret.h"
#include "resmgr/vcard/store.h"

#ifndef VC_DRIVER_PATH
#define VC_DRIVER_PATH "/usr/lib/scard/libifd-scard-vcard.so"
#endif

#define EXIT_USAGE 2

/* Log a message that needs no strerror() (bad input, missing card) and return r. */
#define fail(r, ...) (log_error(__VA_ARGS__), (r))

enum {
    OPT_STORE = 1 << 0,
    OPT_ALG = 1 << 1,
    OPT_PIN_FILE = 1 << 2,
    OPT_PUK_FILE = 1 << 3,
    OPT_SLOT = 1 << 4,
    OPT_SUBJECT = 1 << 5,
    OPT_OUT = 1 << 6,
    OPT_CERT = 1 << 7,
    OPT_FRIENDLY = 1 << 8,
    OPT_LIBPATH = 1 << 9,
};

struct args {
    unsigned seen;
    const char *store, *alg, *pin_file, *puk_file, *slot, *subject, *out, *cert, *friendly, *libpath;
    const char *name;
    const char *root; /* resolved store root */
};

DEFINE_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_CLEANUP_FUNC(X509_REQ *, X509_REQ_free)
DEFINE_CLEANUP_FUNC(X509_NAME *, X509_NAME_free)
DEFINE_CLEANUP_FUNC(BIO *, BIO_free)

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: scard-vcard [--store DIR] COMMAND [ARGS]\n"
            "Manage virtual PIV smart cards (served by the libifd-scard-vcard reader driver).\n\n"
            "  create NAME [--alg rsa2048|eccp256] [--pin-file F] [--puk-file F]\n"
            "                      new card, slot 9A key generated in the store; PIN 6-8 digits,\n"
            "                      PUK 8 digits, read from F's first line ('-' = stdin) or prompted\n"
            "  csr NAME [--slot 9a] --subject /CN=alice [--out FILE]\n"
            "                      PEM certificate request signed by the card's key\n"
            "  import NAME [--slot 9a] --cert FILE\n"
            "                      store a certificate (PEM or DER) matching the slot's key\n"
            "  insert NAME | eject NAME\n"
            "                      put the card into its virtual reader / take it out\n"
            "  list                cards with algorithm, state, tries left and certificates\n"
            "  destroy NAME        overwrite the card's keys and delete it\n"
            "  reader-conf NAME [--friendly-name X] [--libpath PATH]\n"
            "                      print the pcscd reader.conf entry for the card\n\n"
            "The store is --store DIR, else $SCARD_VCARD_STORE, else [vcard] store in the\n"
            "configuration file ($SCARD_CONF), else " VC_STORE_DEFAULT ".\n");
}

static int
load_card(const struct args *a, char **ret_dir, struct vc_card **ret_card)
{
    _cleanup_free_ char *dir = NULL;
    int r = vc_store_card_dir(a->root, a->name, &dir);

    if (r < 0)
        return fail(r, "invalid card name '%s'", a->name);
    r = vc_store_load(dir, ret_card);
    if (r == -ENOENT)
        return fail(r, "no card named '%s' in %s", a->name, a->root);
    if (r < 0)
        return log_error_errno(r, "cannot load card '%s' from %s", a->name, dir);
    if (ret_dir)
        *ret_dir = TAKE_PTR(dir);
    return 0;
}

static int
parse_slot(const struct args *a, enum vc_slot *ret_slot)
{
    int s = vc_slot_from_name(a->slot ? a->slot : "9a");
    if (s < 0)
        return fail(-EINVAL, "invalid slot '%s' (expected 9a, 9c, 9d or 9e)", a->slot);
    *ret_slot = s;
    return 0;
}

/* --- create --------------------------------------------------------------------------------- */

static int
read_secret(const char *file, const char *what, bool (*valid)(const char *, size_t), const char *rule,
            char **ret)
{
    _cleanup_secret_ char *s = NULL, *again = NULL;
    char prompt[64];
    int r;

    snprintf(prompt, sizeof(prompt), "New %s (%s): ", what, rule);
    r = sc_secret_read(file, prompt, &s);
    if (r < 0)
        return log_error_errno(r, "cannot read the %s from %s", what,
                               !file ? "the terminal" : strcmp(file, "-") == 0 ? "standard input" : file);
    if (!valid(s, strlen(s)))
        return fail(-EINVAL, "the %s must be %s", what, rule);
    if (!file) {
        snprintf(prompt, sizeof(prompt), "Repeat the %s: ", what);
        r = sc_secret_read(NULL, prompt, &again);
        if (r < 0)
            return log_error_errno(r, "cannot read the %s from the terminal", what);
        if (strcmp(s, again) != 0)
            return fail(-EINVAL, "the two %ss differ", what);
    }
    *ret = TAKE_PTR(s);
    return 0;
}

static int
set_ref(struct vc_ref *ref, const char *secret, unsigned tries)
{
    ref->tries_left = ref->tries_max = tries;
    return vc_secret_hash(secret, strlen(secret), VC_PBKDF2_ITERATIONS, ref->hash);
}

static int
cmd_create(const struct args *a)
{
    _cleanup_card_ struct vc_card *card = vc_card_new();
    _cleanup_secret_ char *pin = NULL, *puk = NULL;
    enum vc_alg alg = VC_ALG_RSA2048;
    int r;

    if (!card)
        return fail(-ENOMEM, "out of memory");
    if (!vc_store_name_valid(a->name))
        return fail(-EINVAL, "invalid card name '%s' (1-64 of A-Z a-z 0-9 . _ -)", a->name);
    if (a->alg && vc_alg_from_name(a->alg, &alg) < 0)
        return fail(-EINVAL, "unknown algorithm '%s' (expected rsa2048 or eccp256)", a->alg);
    r = read_secret(a->pin_file, "PIN", vc_pin_valid, "6 to 8 digits", &pin);
    if (r < 0)
        return r;
    r = read_secret(a->puk_file, "PUK", vc_puk_valid, "8 digits", &puk);
    if (r < 0)
        return r;
    card->alg = alg;
    if (RAND_bytes(card->guid, VC_GUID_LEN) != 1 || vc_key_generate(alg, &card->key[VC_SLOT_9A]) < 0)
        return fail(-EIO, "cannot generate the card's GUID and key (OpenSSL)");
    if (set_ref(&card->auth.pin, pin, VC_PIN_TRIES_DEFAULT) < 0 ||
        set_ref(&card->auth.puk, puk, VC_PUK_TRIES_DEFAULT) < 0)
        return fail(-EIO, "cannot hash the PIN/PUK (OpenSSL)");
    r = vc_store_create(a->root, a->name, card);
    if (r == -EEXIST)
        return fail(r, "a card named '%s' already exists in %s", a->name, a->root);
    if (r < 0)
        return log_error_errno(r, "cannot create card '%s' in %s", a->name, a->root);
    printf("Created card '%s' (%s, slot 9a key) in %s/%s\n", a->name, vc_alg_name(alg), a->root, a->name);
    return 0;
}

/* --- csr ------------------------------------------------------------------------------------ */

/* "/CN=alice/O=Example" (openssl req -subj syntax; "\/" escapes a slash) → X509_NAME. */
static int
parse_subject(const char *subject, X509_NAME **ret_name)
{
    _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
    _cleanup_free_ char *buf = malloc(strlen(subject) + 1);
    const char *p = subject;

    if (!name || !buf)
        return -ENOMEM;
    if (*p++ != '/')
        return -EINVAL;
    while (*p) {
        char *field = buf, *w = buf, *value;
        while (*p && *p != '/') {
            if (*p == '\\' && p[1])
                p++;
            *w++ = *p++;
        }
        *w = '\0';
        if (*p == '/')
            p++;
        value = strchr(field, '=');
        if (!value || value == field || !value[1])
            return -EINVAL;
        *value++ = '\0';
        if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0) != 1)
            return -EINVAL;
    }
    if (X509_NAME_entry_count(name) == 0)
        return -EINVAL;
    *ret_name = TAKE_PTR(name);
    return 0;
}

static int
cmd_csr(const struct args *a)
{
    _cleanup_card_ struct vc_card *card = NULL;
    _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
    _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
    _cleanup_fclose_ FILE *out = NULL;
    enum vc_slot slot = VC_SLOT_9A;
    int r;

    if (parse_subject(a->subject, &subject) < 0)
        return fail(-EINVAL, "invalid subject '%s' (expected /CN=alice/O=Example)", a->subject);
    r = parse_slot(a, &slot);
    if (r < 0 || (r = load_card(a, NULL, &card)) < 0)
        return r;
    if (!card->key[slot])
        return fail(-ENOENT, "slot %s of card '%s' has no key", vc_slot_name(slot), a->name);
    req = X509_REQ_new();
    if (!req || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 || X509_REQ_set_subject_name(req, subject) != 1 ||
        X509_REQ_set_pubkey(req, card->key[slot]) != 1 || X509_REQ_sign(req, card->key[slot], EVP_sha256()) <= 0)
        return fail(-EIO, "cannot build the certificate request (OpenSSL)");
    out = a->out ? fopen(a->out, "we") : NULL;
    if (a->out && !out)
        return log_error_errno(-errno, "cannot write %s", a->out);
    if (PEM_write_X509_REQ(out ? out : stdout, req) != 1 || fflush(out ? out : stdout) != 0)
        return fail(-EIO, "cannot write the certificate request");
    return 0;
}

/* --- import --------------------------------------------------------------------------------- */

static int
read_cert(const char *path, X509 **ret_cert)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new_file(path, "rb");
    _cleanup_free_ uint8_t *data = NULL;
    const uint8_t *p;
    X509 *x;
    int len;

    if (!bio)
        return -errno ? -errno : -ENOENT;
    data = malloc(65536);
    if (!data)
        return -ENOMEM;
    len = BIO_read(bio, data, 65536);
    if (len <= 0 || len == 65536)
        return -EINVAL;
    BIO_free(bio);
    bio = BIO_new_mem_buf(data, len);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!x) { /* not PEM: DER, and nothing after it */
        p = data;
        x = d2i_X509(NULL, &p, len);
        if (x && p != data + len) {
            X509_free(x);
            x = NULL;
        }
    }
    if (!x)
        return -EINVAL;
    *ret_cert = x;
    return 0;
}

static char *
cert_subject(X509 *x)
{
    _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
    char *data, *s;
    long len;

    if (!bio || X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0)
        return NULL;
    len = BIO_get_mem_data(bio, &data);
    s = len >= 0 ? strndup(data, (size_t)len) : NULL;
    return s;
}

static int
cmd_import(const struct args *a)
{
    _cleanup_card_ struct vc_card *card = NULL;
    _cleanup_(X509_freep) X509 *x = NULL;
    _cleanup_free_ char *dir = NULL, *subject = NULL;
    _cleanup_free_ uint8_t *der = NULL;
    enum vc_slot slot = VC_SLOT_9A;
    int r, len;

    r = parse_slot(a, &slot);
    if (r < 0)
        return r;
    r = read_cert(a->cert, &x);
    if (r == -EINVAL)
        return fail(r, "%s is not a PEM or DER X.509 certificate", a->cert);
    if (r < 0)
        return log_error_errno(r, "cannot read %s", a->cert);
    r = load_card(a, &dir, &card);
    if (r < 0)
        return r;
    if (!card->key[slot])
        return fail(-ENOENT, "slot %s of card '%s' has no key; nothing changed", vc_slot_name(slot),
                               a->name);
    if (EVP_PKEY_eq(X509_get0_pubkey(x), card->key[slot]) != 1)
        return fail(-EINVAL, "%s does not match the key in slot %s of card '%s'; nothing changed",
                               a->cert, vc_slot_name(slot), a->name);
    len = i2d_X509(x, &der);
    if (len <= 0)
        return fail(-EIO, "cannot encode the certificate");
    if ((size_t)len > VC_CERT_MAX)
        return fail(-E2BIG, "certificate too large (%d bytes, at most %u)", len, VC_CERT_MAX);
    r = vc_store_save_cert(dir, slot, der, (size_t)len);
    if (r < 0)
        return log_error_errno(r, "cannot store the certificate in %s", dir);
    subject = cert_subject(x);
    printf("Imported certificate '%s' into slot %s of card '%s'\n", subject ? subject : "?", vc_slot_name(slot),
           a->name);
    return 0;
}

/* --- insert, eject, destroy ------------------------------------------------------------------ */

static int
set_ejected(const struct args *a, bool ejected)
{
    _cleanup_free_ char *dir = NULL;
    int r = vc_store_card_dir(a->root, a->name, &dir);

    if (r < 0)
        return fail(r, "invalid card name '%s'", a->name);
    r = vc_store_set_ejected(dir, ejected);
    if (r == -ENOENT)
        return fail(r, "no card named '%s' in %s", a->name, a->root);
    if (r < 0)
        return log_error_errno(r, "cannot %s card '%s'", ejected ? "eject" : "insert", a->name);
    return 0;
}

static int
cmd_insert(const struct args *a)
{
    return set_ejected(a, false);
}

static int
cmd_eject(const struct args *a)
{
    return set_ejected(a, true);
}

static int
cmd_destroy(const struct args *a)
{
    int r;

    if (!vc_store_name_valid(a->name))
        return fail(-EINVAL, "invalid card name '%s'", a->name);
    r = vc_store_destroy(a->root, a->name);
    if (r == -ENOENT)
        return fail(r, "no card named '%s' in %s", a->name, a->root);
    if (r < 0)
        return log_error_errno(r, "cannot destroy card '%s'", a->name);
    printf("Destroyed card '%s'\n", a->name);
    return 0;
}

/* --- list ------------------------------------------------------------------------------------ */

static void
print_card(const char *root, const char *name)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_card_ struct vc_card *card = NULL;
    const char *sep = "";
    int present, r;

    if (vc_store_card_dir(root, name, &dir) < 0)
        return;
    present = vc_store_present(dir);
    if (present < 0)
        return; /* not a card directory */
    r = vc_store_load(dir, &card);
    if (r < 0) {
        printf("%-16s (unreadable: %s)\n", name, strerror(-r));
        return;
    }
    printf("%-16s %-9s  %-7s  %u/%-3u %u/%-3u ", name, vc_alg_name(card->alg), present ? "present" : "ejected",
           card->auth.pin.tries_left, card->auth.pin.tries_max, card->auth.puk.tries_left,
           card->auth.puk.tries_max);
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        const uint8_t *p = card->cert[s];
        _cleanup_(X509_freep) X509 *x = p ? d2i_X509(NULL, &p, (long)card->cert_len[s]) : NULL;
        _cleanup_free_ char *subject = x ? cert_subject(x) : NULL;
        if (!card->key[s] && !x)
            continue;
        printf("%s%s: %s", sep, vc_slot_name(s), subject ? subject : x ? "?" : "(key, no certificate)");
        sep = "; ";
    }
    printf("%s\n", *sep ? "" : "-");
}

static int
cmd_list(const struct args *a)
{
    struct dirent **names = NULL;
    int n = scandir(a->root, &names, NULL, alphasort);

    if (n < 0 && errno != ENOENT)
        return log_error_errno(-errno, "cannot read the card store %s", a->root);
    printf("%-16s %-9s  %-7s  %-5s %-5s CERTIFICATES\n", "NAME", "ALGORITHM", "STATE", "PIN", "PUK");
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && vc_store_name_valid(names[i]->d_name))
            print_card(a->root, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* --- reader-conf ----------------------------------------------------------------------------- */

/* reader.conf is split on white space; only FRIENDLYNAME may be quoted. */
static bool
conf_token_ok(const char *s, bool quoted)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\n' || *s == '#' || (!quoted && (*s == ' ' || *s == '\t')))
            return false;
    return true;
}

static int
cmd_reader_conf(const struct args *a)
{
    _cleanup_free_ char *dir = NULL, *abs = NULL, *friendly = NULL;
    const char *libpath = a->libpath ? a->libpath : VC_DRIVER_PATH;
    int r = vc_store_card_dir(a->root, a->name, &dir);

    if (r < 0)
        return fail(r, "invalid card name '%s'", a->name);
    if (vc_store_present(dir) < 0)
        return fail(-ENOENT, "no card named '%s' in %s", a->name, a->root);
    abs = realpath(dir, NULL);
    if (!abs)
        return log_error_errno(-errno, "cannot resolve %s", dir);
    if (a->friendly)
        friendly = strdup(a->friendly);
    else if (asprintf(&friendly, "scard virtual card %s", a->name) < 0)
        friendly = NULL;
    if (!friendly)
        return fail(-ENOMEM, "out of memory");
    if (!conf_token_ok(friendly, true) || !*friendly)
        return fail(-EINVAL, "the friendly name must be non-empty, without '\"', '#' or newlines");
    if (!conf_token_ok(abs, false) || !conf_token_ok(libpath, false) || libpath[0] != '/')
        return fail(-EINVAL, "reader.conf cannot express %s or %s (needs absolute paths without "
                                        "spaces, '\"' or '#')", abs, libpath);
    printf("# scard virtual PIV card '%s'\n"
           "FRIENDLYNAME \"%s\"\n"
           "DEVICENAME   %s\n"
           "LIBPATH      %s\n",
           a->name, friendly, abs, libpath);
    return 0;
}

/* --- main ------------------------------------------------------------------------------------ */

static const struct command {
    const char *name;
    bool needs_name;
    unsigned allowed;
    unsigned required;
    int (*run)(const struct args *a);
} commands[] = {
    {"create", true, OPT_ALG | OPT_PIN_FILE | OPT_PUK_FILE, 0, cmd_create},
    {"csr", true, OPT_SLOT | OPT_SUBJECT | OPT_OUT, OPT_SUBJECT, cmd_csr},
    {"import", true, OPT_SLOT | OPT_CERT, OPT_CERT, cmd_import},
    {"insert", true, 0, 0, cmd_insert},
    {"eject", true, 0, 0, cmd_eject},
    {"list", false, 0, 0, cmd_list},
    {"destroy", true, 0, 0, cmd_destroy},
    {"reader-conf", true, OPT_FRIENDLY | OPT_LIBPATH, 0, cmd_reader_conf},
};

static int
parse_args(int argc, char **argv, struct args *a, const struct command **ret_cmd)
{
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},     {"alg", required_argument, NULL, 'a'},
        {"pin-file", required_argument, NULL, 'p'},  {"puk-file", required_argument, NULL, 'u'},
        {"slot", required_argument, NULL, 'S'},      {"subject", required_argument, NULL, 'j'},
        {"out", required_argument, NULL, 'o'},       {"cert", required_argument, NULL, 'c'},
        {"friendly-name", required_argument, NULL, 'f'}, {"libpath", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    struct {
        int c;
        unsigned bit;
        const char **dst;
    } map[] = {
        {'s', OPT_STORE, &a->store},  {'a', OPT_ALG, &a->alg},         {'p', OPT_PIN_FILE, &a->pin_file},
        {'u', OPT_PUK_FILE, &a->puk_file}, {'S', OPT_SLOT, &a->slot}, {'j', OPT_SUBJECT, &a->subject},
        {'o', OPT_OUT, &a->out},      {'c', OPT_CERT, &a->cert},       {'f', OPT_FRIENDLY, &a->friendly},
        {'l', OPT_LIBPATH, &a->libpath},
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(EXIT_SUCCESS);
        }
        if (c == '?')
            return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
            if (map[i].c == c) {
                *map[i].dst = optarg;
                a->seen |= map[i].bit;
            }
    }
    if (optind >= argc)
        return fail(-EINVAL, "no command given");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            *ret_cmd = &commands[i];
    if (!*ret_cmd)
        return fail(-EINVAL, "unknown command '%s'", argv[optind]);
    if (argc - optind != ((*ret_cmd)->needs_name ? 2 : 1))
        return fail(-EINVAL, "%s takes %s", argv[optind], (*ret_cmd)->needs_name ? "one card NAME" : "no arguments");
    if (a->seen & ~((*ret_cmd)->allowed | OPT_STORE))
        return fail(-EINVAL, "an option given does not apply to '%s'", argv[optind]);
    if (((*ret_cmd)->required & OPT_SUBJECT) && !a->subject)
        return fail(-EINVAL, "csr needs --subject, e.g. --subject /CN=alice");
    if (((*ret_cmd)->required & OPT_CERT) && !a->cert)
        return fail(-EINVAL, "import needs --cert FILE");
    a->name = (*ret_cmd)->needs_name ? argv[optind + 1] : NULL;
    return 0;
}

int
main(int argc, char **argv)
{
    struct args a = {0};
    const struct command *cmd = NULL;
    _cleanup_free_ char *root = NULL;
    int r;

    sc_log_setup("scard-vcard", LOG_INFO, false);
    if (parse_args(argc, argv, &a, &cmd) < 0) {
        fprintf(stderr, "Try 'scard-vcard --help'.\n");
        return EXIT_USAGE;
    }
    r = vc_store_root(a.store, &root);
    if (r < 0) {
        log_error_errno(r, "cannot determine the card store (configuration %s)", sc_conf_default_path());
        return EXIT_FAILURE;
    }
    a.root = root;
    return cmd->run(&a) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
