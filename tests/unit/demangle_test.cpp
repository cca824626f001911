#include "discover/demangle.h"

#include <gtest/gtest.h>

namespace scope::discover {
namespace {

TEST(Demangle, Functions) {
  EXPECT_EQ(demangle("_Z10vector_addPfS_i"), "vector_add(float*, float*, int)");
  EXPECT_EQ(demangle("_ZN10scope_demo5scaleIfEEvPT_S1_i"),
            "void scope_demo::scale<float>(float*, float, int)");
}

TEST(Demangle, UnchangedWhenNotMangled) {
  EXPECT_EQ(demangle("cuLaunchKernel"), "cuLaunchKernel");
  EXPECT_EQ(demangle(""), "");
  EXPECT_EQ(demangle("_"), "_");
  EXPECT_EQ(demangle("_Z"), "_Z");
  EXPECT_EQ(demangle("_Zgarbage!!"), "_Zgarbage!!");
  EXPECT_EQ(demangle("_ZN3foo"), "_ZN3foo");
}

}  // namespace
}  // namespace scope::discover
