/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef TOLLGATE_VERSION_H
#define TOLLGATE_VERSION_H
/* debian/changelog's upstream version is this one */
#define TOLLGATE_VERSION "0.1.0"
#endif
