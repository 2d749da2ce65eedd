// chatbot: a chat bot's webhook. POST /message {"text": "..."} answers in
// JSON: a text that mentions holidays gets the upcoming holidays, anything
// else a help line. The holidays come from $HOLIDAYS_FILE (default
// /etc/chatbot/holidays, a ConfigMap mounted by the Function), one a line:
// "MM-DD Name" every year or "YYYY-MM-DD Name" once; '#' starts a comment.
// Without the file, a built-in list. The file is read on every message, so
// an edited ConfigMap is answered without a restart.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "examples/common/http_server.h"

namespace {

using namespace std::chrono;
using zs::examples::Error;
using zs::examples::Json;
using zs::examples::Request;
using zs::examples::Response;

constexpr char kBuiltIn[] =
    "01-01 New Year's Day\n05-01 Labour Day\n05-08 Victory in Europe Day\n07-14 Bastille Day\n"
    "08-15 Assumption of Mary\n11-01 All Saints' Day\n11-11 Armistice Day\n12-25 Christmas Day\n";

struct Holiday {
  year_month_day date;  // the next time it falls on or after today
  std::string name;
};

// Parses the list; every entry is moved to its next date on or after `today`
// (entries with a year that has passed are dropped). Sorted by date.
std::vector<Holiday> Upcoming(std::istream& in, year_month_day today) {
  std::vector<Holiday> out;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string when;
    if (!(fields >> when)) continue;
    std::string name;
    std::getline(fields >> std::ws, name);
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
    int y = 0;
    unsigned m = 0;
    unsigned d = 0;
    char dash1 = 0;
    char dash2 = 0;
    std::istringstream parse(when);
    year_month_day date;
    if (when.size() == 10 && (parse >> y >> dash1 >> m >> dash2 >> d) && dash1 == '-' && dash2 == '-') {
      date = year{y} / month{m} / day{d};
      if (!date.ok() || date < today) continue;
    } else if (when.size() == 5 && (parse >> m >> dash1 >> d) && dash1 == '-') {
      date = today.year() / month{m} / day{d};
      if (date < today) date = (today.year() + years{1}) / month{m} / day{d};
      if (!date.ok()) continue;  // 02-29 outside leap years
    } else {
      continue;
    }
    out.push_back({date, name.empty() ? "(unnamed)" : name});
  }
  std::sort(out.begin(), out.end(), [](const Holiday& a, const Holiday& b) { return a.date < b.date; });
  return out;
}

std::string Format(year_month_day date) {
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return text;
}

Response Handle(const Request& req, const std::string& holidays_file) {
  if (req.path != "/message") return Error(404, "POST /message {\"text\": \"...\"}");
  if (req.method != "POST") return Error(405, "POST /message {\"text\": \"...\"}");
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("text") || !body["text"].is_string()) {
    return Error(400, "expected a JSON object with a string \"text\"");
  }
  std::string text = body["text"].get<std::string>();
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (text.find("holiday") == std::string::npos) {
    return Json(200, {{"reply", "I know about holidays: ask me \"which holidays are coming?\""}});
  }
  const year_month_day today{floor<days>(system_clock::now())};
  std::ifstream file(holidays_file);
  std::istringstream built_in(kBuiltIn);
  const bool from_file = file.is_open();
  const std::vector<Holiday> upcoming = from_file ? Upcoming(file, today) : Upcoming(built_in, today);
  nlohmann::json list = nlohmann::json::array();
  std::string reply = upcoming.empty() ? "No holidays ahead." : "Upcoming holidays:";
  for (const auto& h : upcoming) {
    list.push_back({{"date", Format(h.date)}, {"name", h.name}});
    reply += " " + Format(h.date) + " " + h.name + ";";
  }
  if (!upcoming.empty()) reply.back() = '.';
  return Json(200,
              {{"reply", reply}, {"holidays", list}, {"source", from_file ? holidays_file : "built-in"}});
}

}  // namespace

int main() {
  const std::string holidays_file = zs::examples::Env("HOLIDAYS_FILE", "/etc/chatbot/holidays");
  return zs::examples::Serve("chatbot", [&](const Request& req) { return Handle(req, holidays_file); });
}
