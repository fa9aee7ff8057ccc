#include "nomnom/json_text.hpp"

#include "nomnom/json_ptr.hpp"

#include <dlfcn.h>

namespace nomnom {

json_t* new_json_object() {
    using Constructor = json_t* (*)();
    static const Constructor jansson_json_object = [] {
        void* library = dlopen("libjansson.so.4", RTLD_NOW | RTLD_NOLOAD);
        void* symbol = library ? dlsym(library, "json_object") : nullptr;
        return symbol ? reinterpret_cast<Constructor>(symbol) : &json_object;
    }();
    return jansson_json_object();
}

std::string json_quote(std::string_view text) {
    std::string out;
    append_json_string(out, text);
    return out;
}

} // namespace nomnom
