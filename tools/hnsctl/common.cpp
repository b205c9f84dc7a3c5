#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "hcs/core/error.hpp"
#include "objects.hpp"

namespace hnsctl {

void run(const Globals& globals, int& exit_code, const std::function<void(hcs::network::Hcn&)>& body) {
  exit_code = hcs::cli::run_verb("hnsctl", globals, [&] {
    hcs::network::Hcn hcn(hcs::cli::state_root(globals));
    body(hcn);
    return 0;
  });
}

hcs::Json read_document(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(path);
    if (!in) throw hcs::Error(hcs::hr::ErrNotFound, "cannot read " + path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  return hcs::parse_json(text, path == "-" ? "stdin" : path);
}

void print_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    width[c] = columns[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) out += std::string(width[c] - cells[c].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(columns);
  for (const auto& r : rows) line(r);
}

void print_json(const hcs::Json& j) { std::cout << j.dump(2) << "\n"; }

}  // namespace hnsctl
