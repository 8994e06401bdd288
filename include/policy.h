/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef TOLLGATE_POLICY_H
#define TOLLGATE_POLICY_H

#include <stddef.h>

/*
 * Reads a policy file as YAML.  Returns 0, or -EBADMSG with `err` holding
 * "FILE:LINE:COL: message" (or -errno when the file cannot be read).
 */
int policy_check_yaml(const char *path, char *err, size_t errlen);

#endif
