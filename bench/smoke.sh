#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make check: a short pass of the PC/SC benchmark against scardd only (a few iterations),
# checking that every measurement completes and prints a number. No timing is asserted.
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/run.sh" --smoke "${top_builddir:-$(pwd)}"
