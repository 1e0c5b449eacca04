#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Write the seed inputs of fuzz-piv (tests/fuzz/fuzz-piv.c) into a directory: the APDU
# sessions OpenSC's PIV-II driver and yubico-piv-tool send (SELECT, GET DATA of every object,
# VERIFY, CHANGE / RESET RETRY COUNTER, GENERAL AUTHENTICATE chained and not), plus malformed
# ones. The committed corpus (tests/fuzz/corpus/piv) is these, merged with what fuzzing found.
# Usage: piv-seeds.py DIR
import hashlib
import os
import sys

AID = bytes.fromhex("a000000308000010000100")
# public point of the fuzzer's 9C/9E test key (a valid P-256 point for ECDH into 9D)
EC_POINT = bytes.fromhex(
    "047c77f7e4665a76925a20fbf7a86e67fedd8338c4a1623aba8659c98c456eedcf"
    "a1426a95134233291c8834b058b05343416c77a09a3d5ed10eb4644db7180240")


def apdu(cla, ins, p1, p2, data=b"", le=None):
    b = bytes([cla, ins, p1, p2])
    if data:
        b += bytes([len(data)]) + data
    if le is not None:
        b += bytes([le])
    return b


MGMT_MUTUAL, MGMT_EXTERNAL = object(), object()  # the harness authenticates with the 9B key


def session(*apdus, opt=0):
    """Fuzzer input: option byte, then 2-byte length + APDU each (b"" = card reset)."""
    out = bytes([opt])
    for a in apdus:
        if a is MGMT_MUTUAL or a is MGMT_EXTERNAL:
            out += b"\xff\xff" if a is MGMT_MUTUAL else b"\xff\xfe"
        else:
            out += len(a).to_bytes(2, "big") + a
    return out


def pin_block(s):
    return s.encode().ljust(8, b"\xff")


def chained(ins, p1, p2, data, le=0, chunk=255):
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return [apdu(0x10 if i < len(parts) - 1 else 0x00, ins, p1, p2, d,
                 le if i == len(parts) - 1 else None) for i, d in enumerate(parts)]


def tlv(tag, value):
    t = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    ln = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
    return t + ln + value


def get_data(tag):
    return apdu(0x00, 0xCB, 0x3F, 0xFF, tlv(0x5C, tag.to_bytes((tag.bit_length() + 7) // 8, "big")), 0)


SELECT = apdu(0x00, 0xA4, 0x04, 0x00, AID[:9], 0)       # OpenSC
SELECT_YK = apdu(0x00, 0xA4, 0x04, 0x00, AID[:5])       # yubico-piv-tool
GET_RESPONSE = apdu(0x00, 0xC0, 0x00, 0x00, le=0)
VERIFY_STATUS = apdu(0x00, 0x20, 0x00, 0x80)
VERIFY = apdu(0x00, 0x20, 0x00, 0x80, pin_block("123456"))
VERIFY_BAD = apdu(0x00, 0x20, 0x00, 0x80, pin_block("111111"))
VERIFY_RESET = apdu(0x00, 0x20, 0xFF, 0x80)
OBJECTS = [0x7E, 0x5FC102, 0x5FC107, 0x5FC10C, 0x5FC105, 0x5FC10A, 0x5FC10B, 0x5FC101,
           0x5FC109, 0x5FC108, 0x5FC103, 0x5FC106, 0x5FC10D, 0x5FC120, 0x5FC121, 0x7F61,
           0x5FC122, 0x5FC123, 0x5FFF00, 0x5FFF01]
SHA256 = hashlib.sha256(b"scard fuzz").digest()
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420") + SHA256
RSA_BLOCK = b"\x00\x01" + b"\xff" * (256 - 3 - len(DIGEST_INFO)) + b"\x00" + DIGEST_INFO


def ga(p1, p2, inner, chunk=255):
    return chained(0x87, p1, p2, tlv(0x7C, inner), chunk=chunk)


seeds = {
    "select-opensc": session(SELECT),
    "select-yubico": session(SELECT_YK),
    "select-other-aids": session(
        apdu(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("a0000005272001"), 0),   # YubiKey OTP
        apdu(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("a000000151000000"), 0),  # GlobalPlatform
        apdu(0x00, 0xA4, 0x00, 0x0C, bytes.fromhex("3f00")),                 # MF by file id
        apdu(0x00, 0xA4, 0x04, 0x00, AID + b"\x00", 0),
        apdu(0x00, 0xA4, 0x04, 0x00, AID, 0)),
    "unselected": session(get_data(0x5FC102), VERIFY_STATUS, SELECT, get_data(0x5FC102)),
    "yubico-probe": session(SELECT_YK, apdu(0x00, 0xFD, 0x00, 0x00), apdu(0x00, 0xF8, 0x00, 0x00),
                            apdu(0x00, 0xF7, 0x00, 0x9A), get_data(0x5FFF00), get_data(0x5FC102),
                            VERIFY_STATUS),
    "opensc-match": session(SELECT, get_data(0x7E), get_data(0x5FC102), get_data(0x5FC107),
                            get_data(0x5FC10C), VERIFY_STATUS),
    "cert-9a-get-response": session(SELECT, get_data(0x5FC105), GET_RESPONSE, GET_RESPONSE),
    "cert-9a-short-le": session(SELECT, apdu(0x00, 0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x5f\xc1\x05"), 0x40),
                                apdu(0x00, 0xC0, 0x00, 0x00, le=0x10), GET_RESPONSE, GET_RESPONSE),
    "cert-interrupted": session(SELECT, get_data(0x5FC105), get_data(0x7E), GET_RESPONSE),
    "get-response-bad": session(SELECT, GET_RESPONSE, apdu(0x00, 0xC0, 0x01, 0x00, le=0),
                                get_data(0x5FC105), apdu(0x00, 0xC0, 0x00, 0x01, le=0), GET_RESPONSE),
    "verify": session(SELECT, VERIFY_STATUS, VERIFY, VERIFY_STATUS, VERIFY_RESET, VERIFY_STATUS),
    "verify-wrong-then-right": session(SELECT, VERIFY_BAD, VERIFY_STATUS, VERIFY, VERIFY_STATUS),
    "verify-block": session(SELECT, *[VERIFY_BAD] * 5, VERIFY_STATUS, VERIFY),
    "verify-malformed": session(SELECT, apdu(0x00, 0x20, 0x00, 0x80, b"123456"),
                                apdu(0x00, 0x20, 0x00, 0x81, pin_block("123456")),
                                apdu(0x00, 0x20, 0x01, 0x80, pin_block("123456")),
                                apdu(0x00, 0x20, 0x00, 0x80, b"\xff" * 8),
                                apdu(0x00, 0x20, 0x00, 0x80, b"12\xff3456\xff"),
                                apdu(0x00, 0x20, 0xFF, 0x80, pin_block("123456"))),
    "change-pin": session(SELECT, apdu(0x00, 0x24, 0x00, 0x80, pin_block("123456") + pin_block("654321")),
                          VERIFY_STATUS, apdu(0x00, 0x20, 0x00, 0x80, pin_block("654321"))),
    "change-pin-wrong": session(SELECT, VERIFY,
                                *[apdu(0x00, 0x24, 0x00, 0x80, pin_block("111111") + pin_block("654321"))] * 5,
                                VERIFY_STATUS),
    "change-puk": session(SELECT, apdu(0x00, 0x24, 0x00, 0x81, pin_block("12345678") + pin_block("87654321"))),
    "change-bad-policy": session(SELECT, apdu(0x00, 0x24, 0x00, 0x80, pin_block("123456") + pin_block("12a")),
                                 apdu(0x00, 0x24, 0x00, 0x81, pin_block("12345678") + pin_block("1234"))),
    "unblock": session(SELECT, *[VERIFY_BAD] * 5,
                       apdu(0x00, 0x2C, 0x00, 0x80, pin_block("12345678") + pin_block("654321")),
                       VERIFY_STATUS, apdu(0x00, 0x20, 0x00, 0x80, pin_block("654321"))),
    "unblock-wrong-puk": session(SELECT, *[apdu(0x00, 0x2C, 0x00, 0x80, pin_block("11111111") +
                                                 pin_block("654321"))] * 4),
    "sign-rsa-9a-chained": session(SELECT, VERIFY,
                                   *ga(0x07, 0x9A, tlv(0x82, b"") + tlv(0x81, RSA_BLOCK)), GET_RESPONSE),
    "sign-rsa-9a-small-chunks": session(SELECT, VERIFY,
                                        *ga(0x07, 0x9A, tlv(0x82, b"") + tlv(0x81, RSA_BLOCK), chunk=64),
                                        GET_RESPONSE),
    "sign-rsa-no-pin": session(SELECT, *ga(0x07, 0x9A, tlv(0x82, b"") + tlv(0x81, RSA_BLOCK))),
    "sign-ecdsa-9c": session(SELECT, VERIFY, *ga(0x11, 0x9C, tlv(0x82, b"") + tlv(0x81, SHA256))),
    "sign-ecdsa-9e-no-pin": session(SELECT, *ga(0x11, 0x9E, tlv(0x82, b"") + tlv(0x81, SHA256))),
    "ecdh-9d": session(SELECT, VERIFY, *ga(0x11, 0x9D, tlv(0x82, b"") + tlv(0x85, EC_POINT))),
    "ecdh-9d-bad-point": session(SELECT, VERIFY, *ga(0x11, 0x9D, tlv(0x82, b"") + tlv(0x85, EC_POINT[:-1] + b"\x41"))),
    "ga-malformed": session(SELECT, VERIFY,
                            *ga(0x11, 0x9C, tlv(0x81, SHA256)),
                            *ga(0x11, 0x9C, tlv(0x82, b"") + tlv(0x81, SHA256) + tlv(0x85, EC_POINT)),
                            *ga(0x11, 0x9C, tlv(0x80, b"") + tlv(0x82, b"")),
                            apdu(0x00, 0x87, 0x11, 0x9C, bytes.fromhex("7c2482008120") + SHA256[:16], 0),
                            apdu(0x00, 0x87, 0x07, 0x9C, tlv(0x7C, tlv(0x82, b"") + tlv(0x81, SHA256)), 0),
                            apdu(0x00, 0x87, 0x11, 0x9B, tlv(0x7C, tlv(0x82, b"")), 0),
                            apdu(0x00, 0x87, 0x11, 0x95, tlv(0x7C, tlv(0x82, b"")), 0)),
    "mgmt-challenge": session(SELECT, apdu(0x00, 0x87, 0x03, 0x9B, bytes.fromhex("7c028100"), 0),
                              apdu(0x00, 0x87, 0x0C, 0x9B, bytes.fromhex("7c028100"), 0),
                              apdu(0x00, 0x87, 0x03, 0x9B, bytes.fromhex("7c0a8008") + bytes(8), 0)),
    "chain-broken": session(SELECT, apdu(0x10, 0x87, 0x07, 0x9A, b"\x7c\x82\x01\x06"), get_data(0x7E),
                            apdu(0x00, 0x87, 0x07, 0x9A, b"\x82\x00", 0)),
    "chain-get-data": session(SELECT, apdu(0x10, 0xCB, 0x3F, 0xFF, b"\x5c\x03"),
                              apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5f\xc1\x05", 0), GET_RESPONSE),
    "chain-too-long": session(SELECT, *[apdu(0x10, 0xDB, 0x3F, 0xFF, bytes(255))] * 80,
                              apdu(0x00, 0xDB, 0x3F, 0xFF, b"\x5c")),
    "malformed-lengths": session(b"\x00\xa4\x04", apdu(0x00, 0xA4, 0x04, 0x00, le=0),
                                 bytes.fromhex("00cb3fff00000553035fc102"),   # extended length
                                 bytes.fromhex("00cb3fff055c035f"),            # Lc > data
                                 bytes.fromhex("00cb3fff025c017e0000"),        # Lc < data
                                 SELECT, bytes.fromhex("00cb3fff"), bytes.fromhex("00cb3fff00")),
    "bad-tlv": session(SELECT, apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x82\x00\x01\x7e", 0),
                       apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x81\x01\x7e", 0),
                       apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x04\x5f\xc1\x05\x00", 0),
                       apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x00", 0),
                       apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5f\x5f\x5f\x01\x7e", 0),
                       apdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x01\x7e\x53\x00", 0),
                       apdu(0x00, 0xCB, 0x3F, 0xFE, b"\x5c\x01\x7e", 0)),
    "cla-variants": session(SELECT, apdu(0x80, 0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x7e"), 0),
                            apdu(0x0C, 0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x7e"), 0),
                            apdu(0x01, 0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x7e"), 0),
                            apdu(0x10, 0xC0, 0x00, 0x00, le=0)),
    "reset-mid-session": session(SELECT, VERIFY, get_data(0x5FC105), b"", GET_RESPONSE,
                                 *ga(0x11, 0x9C, tlv(0x82, b"") + tlv(0x81, SHA256)), SELECT,
                                 *ga(0x11, 0x9C, tlv(0x82, b"") + tlv(0x81, SHA256))),
    "save-fails": session(SELECT, VERIFY, VERIFY_STATUS,
                          apdu(0x00, 0x2C, 0x00, 0x80, pin_block("12345678") + pin_block("654321")), opt=0x01),
    "lock-fails": session(SELECT, VERIFY, VERIFY_STATUS, opt=0x02),
    "pin-one-try-left": session(SELECT, VERIFY_STATUS, VERIFY_BAD, VERIFY, opt=0x08),
    "pin-blocked-puk-blocked": session(SELECT, VERIFY_STATUS, VERIFY,
                                       apdu(0x00, 0x2C, 0x00, 0x80, pin_block("12345678") + pin_block("654321")),
                                       opt=0x24),
    # behind the management key (the harness answers the 9B challenge)
    "mgmt-mutual-generate-ec": session(SELECT, MGMT_MUTUAL,
                                       apdu(0x00, 0x47, 0x00, 0x9C, bytes.fromhex("ac03800111"), 0), GET_RESPONSE),
    "mgmt-external-put-chuid": session(SELECT, MGMT_EXTERNAL, apdu(0x00, 0xDB, 0x3F, 0xFF, tlv(0x5C, b"\x5f\xc1\x02") +
                                       tlv(0x53, tlv(0x30, bytes(25)) + tlv(0x34, bytes(16)) + tlv(0xFE, b""))),
                                       get_data(0x5FC102)),
    "mgmt-put-cert-chained": session(SELECT, MGMT_MUTUAL,
                                     *chained(0xDB, 0x3F, 0xFF, tlv(0x5C, b"\x5f\xc1\x0a") +
                                              tlv(0x53, tlv(0x70, bytes(600)) + tlv(0x71, b"\x00") + tlv(0xFE, b""))),
                                     get_data(0x5FC10A), GET_RESPONSE, GET_RESPONSE),
    "mgmt-set-key-aes": session(SELECT, MGMT_MUTUAL,
                                apdu(0x00, 0xFF, 0xFF, 0xFF, bytes.fromhex("089b10") + bytes(range(16))),
                                MGMT_MUTUAL, apdu(0x00, 0x47, 0x00, 0x9E, bytes.fromhex("ac03800111"), 0)),
    "mgmt-import-ec": session(SELECT, MGMT_MUTUAL,
                              apdu(0x00, 0xFE, 0x11, 0x9D, tlv(0x06, hashlib.sha256(b"k").digest())),
                              VERIFY, *ga(0x11, 0x9D, tlv(0x82, b"") + tlv(0x85, EC_POINT))),
    "mgmt-without-auth": session(SELECT, apdu(0x00, 0x47, 0x00, 0x9A, bytes.fromhex("ac03800107"), 0),
                                 apdu(0x00, 0xDB, 0x3F, 0xFF, tlv(0x5C, b"\x7e") + tlv(0x53, b"")),
                                 apdu(0x00, 0xFF, 0xFF, 0xFF, bytes.fromhex("039b18") + bytes(24))),
    "yk-metadata-reset": session(SELECT_YK, apdu(0x00, 0xF7, 0x00, 0x9A), apdu(0x00, 0xF7, 0x00, 0x80),
                                 apdu(0x00, 0xF7, 0x00, 0x9B), apdu(0x00, 0xFB, 0x00, 0x00), opt=0x24),
}
for tag in OBJECTS:
    seeds["get-data-%x" % tag] = session(SELECT, get_data(tag), GET_RESPONSE)

os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], "seed-" + name), "wb") as f:
        f.write(data)
print(len(seeds), "seeds written to", sys.argv[1])
