/* SPDX-License-Identifier: MIT */
/* Shared helpers of the PCI configuration space unit tests (test_pci_config.c, test_pci_caps.c). */
#ifndef UVF_TEST_PCI_CONFIG_H
#define UVF_TEST_PCI_CONFIG_H

#include <stdint.h>

#include "server/pci_config.h"

extern struct uvf_config cfg;
extern struct uvf_config_desc desc;
void base_desc(void);
void build_ok(void);
uint8_t rd8(uint32_t off);
uint16_t rd16(uint32_t off);
uint32_t rd32(uint32_t off);
void wr8(uint32_t off, uint8_t v, struct uvf_config_effects *fx);
void wr16(uint32_t off, uint16_t v, struct uvf_config_effects *fx);
void wr32(uint32_t off, uint32_t v, struct uvf_config_effects *fx);
void add_cap(uint8_t id, uint8_t len, uint8_t fill, uint8_t writable);
uint32_t size_bar(uint32_t off);

#endif
