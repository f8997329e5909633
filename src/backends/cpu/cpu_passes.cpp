#include "backends/cpu/cpu_passes.h"

#include "passes/shape_value_freezing.h"

namespace kiln::cpu {

passes::PassList pass_list(const passes::PassContext& context) {
  passes::PassList list;
  list.add(passes::make_shape_value_freezing(context));
  return list;
}

}  // namespace kiln::cpu
