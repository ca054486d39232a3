"""The JSON parser of every API door: synthesis.services.strictjson behind DRF's JSONParser."""

import codecs

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding

from synthesis.services import strictjson


class StrictJSONParser(JSONParser):
    """JSONParser, but a hostile body (nested 1,000 deep, a repeated key, NaN…) is a 400 `parse_error`, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})  # refuses non-text codecs (bz2_codec…)
        data = stream.read()
        if codecs.lookup(encoding).name != "utf-8":  # else strictjson checks the UTF-8 itself
            try:
                data = data.decode(encoding)
            except UnicodeDecodeError:
                raise ParseError(f"The body is not valid {encoding}.", code="parse_error") from None
        try:
            return strictjson.loads(data)
        except strictjson.StrictJSONError as error:
            raise ParseError(str(error), code="parse_error") from None
