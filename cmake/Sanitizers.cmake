# SPDX-License-Identifier: MIT
# GVPN_SANITIZE: ASan + UBSan on every target, and any UB report is fatal.
# GVPN_FUZZ: libFuzzer targets under tests/fuzz (clang), with ASan + UBSan.
if(GVPN_SANITIZE OR GVPN_FUZZ)
	set(_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
	add_compile_options(${_san})
	add_link_options(${_san})
endif()
if(GVPN_FUZZ)
	if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
		message(FATAL_ERROR "GVPN_FUZZ needs clang (libFuzzer)")
	endif()
	# Instrument everything for coverage; only the fuzz targets link the
	# libFuzzer driver (see tests/fuzz/CMakeLists.txt).
	add_compile_options(-fsanitize=fuzzer-no-link)
endif()
