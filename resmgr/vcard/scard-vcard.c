/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scard-vcard: manage virtual PIV cards in the card store — option parsing and the commands
 * that need no card secret: certificate import, insert/eject, list, destroy, and the
 * reader.conf entry that puts a card into a PC/SC reader. The others: scard-vcard-card.c.
 * PINs, PUKs and management keys come from a file, stdin or the terminal, never argv/env.
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
#include "resmgr/vcard/scard-vcard.h"

#ifndef VC_DRIVER_PATH
#define VC_DRIVER_PATH "/usr/lib/scard/libifd-scard-vcard.so"
#endif

#define EXIT_USAGE 2

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
    OPT_MGMT_FILE = 1 << 10,
    OPT_NEW_MGMT_FILE = 1 << 11,
    OPT_MGMT_ALG = 1 << 12,
    OPT_NEW_FILE = 1 << 13,
    OPT_RANDOM = 1 << 14,
    OPT_PINPAD = 1 << 15,
};

DEFINE_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_CLEANUP_FUNC(BIO *, BIO_free)

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: scard-vcard [--store DIR] COMMAND [ARGS]\n"
            "Manage virtual PIV smart cards (served by the libifd-scard-vcard reader driver).\n\n"
            "  create NAME [--alg rsa2048|eccp256|eccp384] [--pin-file F] [--puk-file F]\n"
            "         [--mgmt-key-file F [--mgmt-alg 3des|aes128|aes192|aes256]] | --random\n"
            "                      new card with a slot 9A key; PIN 6-8 digits, PUK 8 digits, read\n"
            "                      from F's first line ('-' = stdin) or prompted; --random makes\n"
            "                      PIN, PUK and management key and prints them once\n"
            "  generate NAME --slot 9a|9c|9d|9e [--alg A] [--mgmt-key-file F]\n"
            "                      new key in a slot (management key: default unless set)\n"
            "  csr NAME [--slot 9a] --subject /CN=alice [--out FILE] [--pin-file F]\n"
            "                      PEM certificate request signed by the card's key (needs the PIN)\n"
            "  import NAME [--slot 9a] --cert FILE\n"
            "                      store a certificate (PEM or DER) matching the slot's key\n"
            "  change-pin NAME [--pin-file F] [--new-file F]\n"
            "  change-puk NAME [--puk-file F] [--new-file F]\n"
            "  unblock NAME [--puk-file F] [--new-file F]   new PIN with the PUK\n"
            "  set-mgmt-key NAME [--mgmt-key-file F] (--new-mgmt-key-file F | --random) [--mgmt-alg A]\n"
            "  reset NAME [--mgmt-key-file F]\n"
            "                      wipe keys and certificates (management key, or PIN and PUK blocked)\n"
            "  insert NAME | eject NAME\n"
            "                      put the card into its virtual reader / take it out\n"
            "  list                cards with algorithm, state, tries left and certificates\n"
            "  destroy NAME        overwrite the card's keys and delete it\n"
            "  reader-conf NAME [--friendly-name X] [--libpath PATH] [--pinpad FILE]\n"
            "                      print the pcscd reader.conf entry for the card; --pinpad makes\n"
            "                      the reader a simulated PIN pad (TEST DEVICE) whose \"typed\" PIN\n"
            "                      is FILE's content at each verification (no file: nothing typed)\n\n"
            "The store is --store DIR, else $SCARD_VCARD_STORE, else [vcard] store in the\n"
            "configuration file ($SCARD_CONF), else " VC_STORE_DEFAULT ".\n");
}

int
vcli_load_card(const struct args *a, char **ret_dir, struct vc_card **ret_card)
{
    _cleanup_free_ char *dir = NULL;
    int r = vc_store_card_dir(a->root, a->name, &dir);

    if (r < 0)
        return fail(r, "invalid card name '%s'", a->name);
    r = vc_store_load(dir, ret_card);
    if (r == -ENOENT)
        return fail(r, "no card named '%s' in %s", a->name, a->root);
    if (r == -EPROTONOSUPPORT)
        return fail(r, "card '%s' was made by an older scard-vcard that kept its keys in the clear; "
                       "destroy and re-create it", a->name);
    if (r < 0)
        return log_error_errno(r, "cannot load card '%s' from %s", a->name, dir);
    if (ret_dir)
        *ret_dir = TAKE_PTR(dir);
    return 0;
}

int
vcli_parse_slot(const struct args *a, enum vc_slot *ret_slot)
{
    int s = vc_slot_from_name(a->slot ? a->slot : "9a");
    if (s < 0)
        return fail(-EINVAL, "invalid slot '%s' (expected 9a, 9c, 9d or 9e)", a->slot);
    *ret_slot = s;
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

char *
vcli_cert_subject(X509 *x)
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

    r = vcli_parse_slot(a, &slot);
    if (r < 0)
        return r;
    r = read_cert(a->cert, &x);
    if (r == -EINVAL)
        return fail(r, "%s is not a PEM or DER X.509 certificate", a->cert);
    if (r < 0)
        return log_error_errno(r, "cannot read %s", a->cert);
    r = vcli_load_card(a, &dir, &card);
    if (r < 0)
        return r;
    if (!vc_card_slot_pub(card, slot))
        return fail(-ENOENT, "slot %s of card '%s' has no key; nothing changed", vc_slot_name(slot),
                               a->name);
    if (EVP_PKEY_eq(X509_get0_pubkey(x), vc_card_slot_pub(card, slot)) != 1)
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
    subject = vcli_cert_subject(x);
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
        printf("%-16s (unreadable: %s)\n", name,
               r == -EPROTONOSUPPORT ? "old format with cleartext keys, re-create it" : strerror(-r));
        return;
    }
    printf("%-16s %-9s  %-7s  %u/%-3u %u/%-3u ", name, vc_alg_name(card->alg),
           card->auth.pin.tries_left == 0 && card->auth.puk.tries_left == 0 ? "dead"
           : card->auth.pin.tries_left == 0                                ? "blocked"
           : present                                                        ? "present"
                                                                            : "ejected",
           card->auth.pin.tries_left, card->auth.pin.tries_max, card->auth.puk.tries_left,
           card->auth.puk.tries_max);
    for (int s = 0; s < VC_SLOT_MAX; s++) {
        const uint8_t *p = card->cert[s];
        _cleanup_(X509_freep) X509 *x = p ? d2i_X509(NULL, &p, (long)card->cert_len[s]) : NULL;
        _cleanup_free_ char *subject = x ? vcli_cert_subject(x) : NULL;
        if (!vc_card_slot_pub(card, s) && !x)
            continue;
        printf("%s%s %s: %s", sep, vc_slot_name(s), vc_alg_name(vc_alg_of_key(vc_card_slot_pub(card, s))),
               subject ? subject : x ? "?" : "(key, no certificate)");
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

/* --pinpad FILE as an absolute path; FILE itself need not exist yet (then nothing is "typed"). */
static int
pinpad_path(const char *file, char **ret_abs)
{
    _cleanup_free_ char *cwd = NULL;

    if (file[0] == '/') {
        *ret_abs = strdup(file);
        return *ret_abs ? 0 : -ENOMEM;
    }
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return -errno;
    return asprintf(ret_abs, "%s/%s", cwd, file) < 0 ? -ENOMEM : 0;
}

/*
 * Print the reader.conf entry of a card: DEVICENAME is the card directory, followed by
 * ":pinpad:FILE" with --pinpad (a simulated PIN-pad reader, see ifd.c and README "Virtual cards").
 */
static int
cmd_reader_conf(const struct args *a)
{
    _cleanup_free_ char *dir = NULL, *abs = NULL, *friendly = NULL, *pad = NULL;
    const char *libpath = a->libpath ? a->libpath : VC_DRIVER_PATH;
    int r = vc_store_card_dir(a->root, a->name, &dir);

    if (r < 0)
        return fail(r, "invalid card name '%s'", a->name);
    if (vc_store_present(dir) < 0)
        return fail(-ENOENT, "no card named '%s' in %s", a->name, a->root);
    abs = realpath(dir, NULL);
    if (!abs)
        return log_error_errno(-errno, "cannot resolve %s", dir);
    if (a->pinpad) {
        r = pinpad_path(a->pinpad, &pad);
        if (r < 0)
            return log_error_errno(r, "cannot make %s an absolute path", a->pinpad);
        if (!conf_token_ok(pad, false))
            return fail(-EINVAL, "reader.conf cannot express the PIN-pad file %s (needs a path without "
                                 "spaces, '\"' or '#')", pad);
    }
    if (a->friendly)
        friendly = strdup(a->friendly);
    else if (asprintf(&friendly, "scard virtual card %s%s", a->name, pad ? " (simulated PIN pad)" : "") < 0)
        friendly = NULL;
    if (!friendly)
        return fail(-ENOMEM, "out of memory");
    if (!conf_token_ok(friendly, true) || !*friendly)
        return fail(-EINVAL, "the friendly name must be non-empty, without '\"', '#' or newlines");
    if (!conf_token_ok(abs, false) || strstr(abs, ":pinpad:") || !conf_token_ok(libpath, false) ||
        libpath[0] != '/')
        return fail(-EINVAL, "reader.conf cannot express %s or %s (needs absolute paths without "
                                        "spaces, '\"' or '#')", abs, libpath);
    printf("# scard virtual PIV card '%s'\n", a->name);
    if (pad)
        printf("# TEST DEVICE: a simulated PIN-pad reader. The PIN \"typed on its pad\" is the content of\n"
               "# %s, read at each verification; never use it for a real PIN.\n", pad);
    printf("FRIENDLYNAME \"%s\"\n"
           "DEVICENAME   %s%s%s\n"
           "LIBPATH      %s\n",
           friendly, abs, pad ? ":pinpad:" : "", pad ? pad : "", libpath);
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
    {"create", true, OPT_ALG | OPT_PIN_FILE | OPT_PUK_FILE | OPT_MGMT_FILE | OPT_MGMT_ALG | OPT_RANDOM, 0, vcli_create},
    {"generate", true, OPT_SLOT | OPT_ALG | OPT_MGMT_FILE, OPT_SLOT, vcli_generate},
    {"csr", true, OPT_SLOT | OPT_SUBJECT | OPT_OUT | OPT_PIN_FILE, OPT_SUBJECT, vcli_csr},
    {"change-pin", true, OPT_PIN_FILE | OPT_NEW_FILE, 0, vcli_change_pin},
    {"change-puk", true, OPT_PUK_FILE | OPT_NEW_FILE, 0, vcli_change_puk},
    {"unblock", true, OPT_PUK_FILE | OPT_NEW_FILE, 0, vcli_unblock},
    {"set-mgmt-key", true, OPT_MGMT_FILE | OPT_NEW_MGMT_FILE | OPT_MGMT_ALG | OPT_RANDOM, 0, vcli_set_mgmt_key},
    {"reset", true, OPT_MGMT_FILE, 0, vcli_reset},
    {"import", true, OPT_SLOT | OPT_CERT, OPT_CERT, cmd_import},
    {"insert", true, 0, 0, cmd_insert},
    {"eject", true, 0, 0, cmd_eject},
    {"list", false, 0, 0, cmd_list},
    {"destroy", true, 0, 0, cmd_destroy},
    {"reader-conf", true, OPT_FRIENDLY | OPT_LIBPATH | OPT_PINPAD, 0, cmd_reader_conf},
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
        {"mgmt-key-file", required_argument, NULL, 'm'}, {"new-mgmt-key-file", required_argument, NULL, 'M'},
        {"mgmt-alg", required_argument, NULL, 'A'},  {"new-file", required_argument, NULL, 'n'},
        {"random", no_argument, NULL, 'r'},          {"pinpad", required_argument, NULL, 'P'},
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
        {'l', OPT_LIBPATH, &a->libpath},   {'m', OPT_MGMT_FILE, &a->mgmt_file},
        {'M', OPT_NEW_MGMT_FILE, &a->new_mgmt_file}, {'A', OPT_MGMT_ALG, &a->mgmt_alg},
        {'n', OPT_NEW_FILE, &a->new_pin_file}, {'P', OPT_PINPAD, &a->pinpad},
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(EXIT_SUCCESS);
        }
        if (c == '?')
            return -EINVAL;
        if (c == 'r') {
            a->random = true;
            a->seen |= OPT_RANDOM;
        }
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
    if (((*ret_cmd)->required & OPT_SLOT) && !a->slot)
        return fail(-EINVAL, "%s needs --slot 9a|9c|9d|9e", argv[optind]);
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
