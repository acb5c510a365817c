// Shared by the example programs (not part of the library): a small command-line
// parser, CSV output, progress lines and running the matplotlib script of an example.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <vector>

namespace examples {

/// Options given as `--name value` or `--name=value`; `--help` prints the registered ones.
class options {
 public:
  options(std::string program, std::string summary)
      : m_program(std::move(program)), m_summary(std::move(summary)) {}

  /// Registers an option with its default and help text.
  options& add(const std::string& name, std::string default_value, std::string help) {
    m_values[name] = std::move(default_value);
    m_help.push_back({name, std::move(help)});
    return *this;
  }

  /// Parses argv; returns false when --help was asked (after printing the help).
  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        print_help();
        return false;
      }
      if (arg.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + arg + "'");
      std::string name = arg.substr(2);
      std::string value;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else {
        if (i + 1 >= argc) throw std::invalid_argument("option --" + name + " needs a value");
        value = argv[++i];
      }
      if (!m_values.count(name))
        throw std::invalid_argument("unknown option --" + name + " (see --help)");
      m_values[name] = value;
    }
    return true;
  }

  [[nodiscard]] const std::string& str(const std::string& name) const { return m_values.at(name); }
  /// The value of --name as an integer; throws naming the option unless the whole value parses.
  [[nodiscard]] int integer(const std::string& name) const { return to_integer(name, str(name)); }
  /// The value of --name as a finite real number (same checks).
  [[nodiscard]] double real(const std::string& name) const { return to_real(name, str(name)); }

  /// `text` (a value of --name, or one item of a list) as an integer, or an exception naming --name.
  static int to_integer(const std::string& name, const std::string& text) {
    return convert(name, text, "an integer",
                   [](const std::string& v, std::size_t* end) { return std::stoi(v, end); });
  }
  /// `text` as a finite real number, or an exception naming --name.
  static double to_real(const std::string& name, const std::string& text) {
    const double value =
        convert(name, text, "a number",
                [](const std::string& v, std::size_t* end) { return std::stod(v, end); });
    if (!std::isfinite(value))
      throw std::invalid_argument("option --" + name + " needs a finite number (got '" + text +
                                  "')");
    return value;
  }

  void print_help() const {
    std::printf("%s — %s\n\nusage: %s [options]\n\n", m_program.c_str(), m_summary.c_str(),
                m_program.c_str());
    for (const auto& [name, help] : m_help)
      std::printf("  --%-12s %s (default: %s)\n", name.c_str(), help.c_str(),
                  m_values.at(name).c_str());
  }

 private:
  template <class Parse>
  static std::invoke_result_t<Parse, const std::string&, std::size_t*> convert(
      const std::string& name, const std::string& value, const char* what, Parse parse) {
    std::size_t end = 0;
    try {
      const auto result = parse(value, &end);
      if (end == value.size() && !value.empty()) return result;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument("option --" + name + " needs " + what + " (got '" + value + "')");
  }

  std::string m_program, m_summary;
  std::map<std::string, std::string> m_values;
  std::vector<std::pair<std::string, std::string>> m_help;
};

/// The non-empty items of a comma-separated list ("a,b,,c" gives a, b, c).
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) parts.push_back(item);
  return parts;
}

/// Writes a CSV file with a header row; columns are given as equal-length vectors.
inline void write_csv(const std::filesystem::path& path, const std::vector<std::string>& header,
                      const std::vector<std::vector<double>>& columns) {
  std::filesystem::create_directories(path.parent_path());
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    for (std::size_t j = 0; j < header.size(); ++j) out << (j ? "," : "") << header[j];
    out << '\n';
    const std::size_t rows = columns.empty() ? 0 : columns.front().size();
    out.precision(17);
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t j = 0; j < columns.size(); ++j) out << (j ? "," : "") << columns[j][i];
      out << '\n';
    }
    if (!out) throw std::runtime_error("error while writing " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

/// Writes sets of 2-D points (2 × n matrices, columns are points, equal n) as one CSV with the
/// columns `<name>_x, <name>_y` per set.
template <class Matrix>
void write_point_sets(const std::filesystem::path& path, const std::vector<std::string>& names,
                      const std::vector<const Matrix*>& sets) {
  std::vector<std::string> header;
  std::vector<std::vector<double>> columns;
  for (std::size_t k = 0; k < sets.size(); ++k) {
    header.push_back(names[k] + "_x");
    header.push_back(names[k] + "_y");
    columns.emplace_back(sets[k]->row(0).begin(), sets[k]->row(0).end());
    columns.emplace_back(sets[k]->row(1).begin(), sets[k]->row(1).end());
  }
  write_csv(path, header, columns);
}

/// Runs `python3 <script> <out_dir>` with Debian's matplotlib when it is present;
/// otherwise says how to get the figure. Returns true when the figure was written.
/// Set NDE_NO_PLOT=1 to skip plotting (the smoke tests do).
inline bool run_plot_script(const std::filesystem::path& script,
                            const std::filesystem::path& out_dir) {
  if (const char* skip = std::getenv("NDE_NO_PLOT"); skip && *skip && std::string(skip) != "0")
    return false;
  const char* python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string probe = std::string(python) + " -c 'import matplotlib' >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    std::printf("matplotlib not found: install python3-matplotlib, then run %s %s %s\n", python,
                script.string().c_str(), out_dir.string().c_str());
    return false;
  }
  const std::string cmd =
      std::string(python) + " '" + script.string() + "' '" + out_dir.string() + "'";
  return std::system(cmd.c_str()) == 0;
}

/// Seconds since construction, for progress lines.
class stopwatch {
 public:
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  }

 private:
  std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

}  // namespace examples
