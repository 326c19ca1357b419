# SPDX-License-Identifier: MIT
# The house warning set (STYLE.md), for gcc and clang alike.
add_compile_options(
	-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
	-Wvla -Wpointer-arith -Wcast-qual -Wundef -Wnull-dereference
	-fno-common)
if(GVPN_WERROR)
	add_compile_options(-Werror)
endif()
