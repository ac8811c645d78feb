#ifndef CCRC64_H
#define CCRC64_H

#include <stddef.h>
#include <stdint.h>

/// CRC-64/XZ (ECMA-182 polynomial, reflected) register update over `length` bytes. `reg` is the raw
/// register (start from ~0, the CRC is ~reg at the end). Uses carry-less multiplication (PCLMULQDQ)
/// where the CPU has it, a slicing-by-8 table elsewhere.
uint64_t ccrc64_update(uint64_t reg, const void *bytes, size_t length);

/// The same with the table only (the reference the folded path is tested against).
uint64_t ccrc64_update_table(uint64_t reg, const void *bytes, size_t length);

/// 1 when ccrc64_update folds with PCLMULQDQ on this CPU.
int ccrc64_accelerated(void);

#endif
