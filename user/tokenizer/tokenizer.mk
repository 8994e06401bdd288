# user/tokenizer: exact o200k_base / cl100k_base tokenizer (DESIGN §5).
# Included by the top-level Makefile before its first rule.

# Rules below must not become the default goal.
.DEFAULT_GOAL := all

TOKENIZER_SRCS := $(sort $(wildcard user/tokenizer/*.c))
TOKENIZER_TEST_SRCS :=
TOKENIZER_VOCAB := data/tokenizer/cl100k_base.tokbin data/tokenizer/o200k_base.tokbin

# vocab.c embeds the vocabularies with .incbin: rebuild it when they change.
$(BUILD)/user/tokenizer/vocab.o $(BUILD)/asan/user/tokenizer/vocab.o \
$(BUILD)/fuzz/user/tokenizer/vocab.o: $(TOKENIZER_VOCAB)

# build/toktool: conformance driver, in-process benchmark and load timer
# for tests/integ/test_tokenizer_conformance and bench/tokenizer/.
TOKTOOL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(TOKENIZER_SRCS) user/tokenizer/tools/toktool.c)

$(BUILD)/toktool: $(TOKTOOL_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The unit tests and the conformance test need it.
unit: $(BUILD)/toktool

-include $(BUILD)/user/tokenizer/tools/toktool.d
