# SPDX-License-Identifier: MIT
# Rename the public names deprecated in uvf 0.2 to their new spelling.
#
#   sed -i -f scripts/rename-deprecated.sed FILE...
#
# Every old name is matched as a whole word. struct uvf_version becomes
# struct uvf_msg_version only after the keyword struct, so that the
# function uvf_version() keeps its name. Protocol message names in prose
# and log text (MIG_DATA_READ, ...) are the protocol's own words and are
# left alone. See CHANGELOG.md for the table of renames.

# Constants: a set of bits of a field ends in _BITS; MASK means IRQ masking.
s/\<UVF_MSG_TYPE_MASK\>/UVF_MSG_TYPE_BITS/g
s/\<UVF_IRQ_SET_DATA_MASK\>/UVF_IRQ_SET_DATA_BITS/g
s/\<UVF_IRQ_SET_ACTION_MASK_ALL\>/UVF_IRQ_SET_ACTION_BITS/g
s/\<UVF_FEATURE_MASK\>/UVF_FEATURE_BITS/g

# Migration, spelled in full.
s/\<UVF_CMD_MIG_DATA_READ\>/UVF_CMD_MIGRATION_DATA_READ/g
s/\<UVF_CMD_MIG_DATA_WRITE\>/UVF_CMD_MIGRATION_DATA_WRITE/g
s/\<UVF_FEATURE_MIG_DEVICE_STATE\>/UVF_FEATURE_MIGRATION_DEVICE_STATE/g
s/\<UVF_MIG_STATE_\(ERROR\|STOP\|RUNNING\|STOP_COPY\|RESUMING\|RUNNING_P2P\|PRE_COPY\|PRE_COPY_P2P\)\>/UVF_MIGRATION_STATE_\1/g
s/\<uvf_mig_state\>/uvf_migration_state/g
s/\<uvf_client_mig_data_read\>/uvf_client_migration_data_read/g
s/\<uvf_client_mig_data_write\>/uvf_client_migration_data_write/g

# Guest-style access to any region by the fastest legal path.
s/\<uvf_client_bar_read\>/uvf_client_access_read/g
s/\<uvf_client_bar_write\>/uvf_client_access_write/g

# Wire structs (uvf/proto.h) take the uvf_msg_ prefix.
s/\<struct\([[:space:]]\+\)uvf_version\>/struct\1uvf_msg_version/g
s/\<uvf_dma_map\>/uvf_msg_dma_map/g
s/\<uvf_dma_unmap\>/uvf_msg_dma_unmap/g
s/\<uvf_dma_unmap_bitmap\>/uvf_msg_dma_unmap_bitmap/g
s/\<uvf_device_info\>/uvf_msg_device_info/g
s/\<uvf_region_info\>/uvf_msg_region_info/g
s/\<uvf_region_cap_header\>/uvf_msg_region_cap_header/g
s/\<uvf_region_sparse_area\>/uvf_msg_region_sparse_area/g
s/\<uvf_region_cap_sparse_mmap\>/uvf_msg_region_cap_sparse_mmap/g
s/\<uvf_region_cap_type\>/uvf_msg_region_cap_type/g
s/\<uvf_region_io_fds\>/uvf_msg_region_io_fds/g
s/\<uvf_io_fd_entry\>/uvf_msg_io_fd_entry/g
s/\<uvf_irq_info\>/uvf_msg_irq_info/g
s/\<uvf_irq_set\>/uvf_msg_irq_set/g
s/\<uvf_region_access\>/uvf_msg_region_access/g
s/\<uvf_dma_access\>/uvf_msg_dma_access/g
s/\<uvf_write_multi_entry\>/uvf_msg_write_multi_entry/g
s/\<uvf_write_multi\>/uvf_msg_write_multi/g
s/\<uvf_device_feature\>/uvf_msg_device_feature/g
s/\<uvf_feature_migration\>/uvf_msg_feature_migration/g
s/\<uvf_dma_logging_range\>/uvf_msg_dma_logging_range/g
s/\<uvf_dma_logging_control\>/uvf_msg_dma_logging_control/g
s/\<uvf_dma_logging_report\>/uvf_msg_dma_logging_report/g
s/\<uvf_feature_mig_state\>/uvf_msg_feature_migration_state/g
s/\<uvf_mig_data\>/uvf_msg_migration_data/g
