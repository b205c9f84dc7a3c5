// hnsctl's objects: each file adds one object (`hnsctl OBJECT VERB ...`, as ip(8) does)
// and its verbs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli.hpp"
#include "hcs/core/json.hpp"
#include "hcs/network/hcn.hpp"

namespace hnsctl {

using Globals = hcs::cli::Globals;

// Runs a verb's body against the HCN API of the globals' state root; prints errors as
// `hnsctl: ...` (or a JSON object with -o json) and sets `exit_code`.
void run(const Globals& globals, int& exit_code, const std::function<void(hcs::network::Hcn&)>& body);

// A JSON document from a file, or stdin for "-"; malformed JSON is VmcomputeInvalidJSON
// naming the file and the place.
hcs::Json read_document(const std::string& path);

// Prints `rows` (objects) as a table with these columns (JSON keys); "" for a missing key.
void print_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows);
// Prints a JSON value for scripts, indented.
void print_json(const hcs::Json& j);

void add_network(CLI::App& app, Globals& globals, int& exit_code);
void add_endpoint(CLI::App& app, Globals& globals, int& exit_code);
void add_namespace(CLI::App& app, Globals& globals, int& exit_code);
void add_policy(CLI::App& app, Globals& globals, int& exit_code);
void add_loadbalancer(CLI::App& app, Globals& globals, int& exit_code);
void add_features(CLI::App& app, Globals& globals, int& exit_code);
void add_list(CLI::App& app, Globals& globals, int& exit_code);

}  // namespace hnsctl
