"""The tokens of a PostgreSQL default expression, as Prisma's introspection splits it."""

from __future__ import annotations

# Token kinds
(COMMA, OPEN, CLOSE, LSQUARE, RSQUARE, LCURLY, RCURLY, MINUS, DOT, CAST) = range(10)
(DQUOTED, STRING, CSTRING, DIGITS, IDENT, UNTERMINATED, SPACE, UNKNOWN) = range(10, 18)
_SINGLE = {",": COMMA, "(": OPEN, ")": CLOSE, "[": LSQUARE, "]": RSQUARE, "-": MINUS}
_SINGLE.update({".": DOT, "{": LCURLY, "}": RCURLY})


def tokenize(text: str) -> list[tuple[int, int]]:
    tokens: list[tuple[int, int]] = []
    index, length = 0, len(text)
    while index < length:
        start, char = index, text[index]
        index += 1
        if char in _SINGLE:
            tokens.append((_SINGLE[char], start))
        elif char == ":":
            if index < length and text[index] == ":":
                index += 1
                tokens.append((CAST, start))
            else:
                tokens.append((UNKNOWN, start))
                return tokens
        elif char.isascii() and char.isdigit():
            while index < length and text[index].isascii() and text[index].isdigit():
                index += 1
            tokens.append((DIGITS, start))
        elif char in "Ee" and index < length and text[index] == "'":
            index += 1
            kind = UNTERMINATED
            while index < length:
                current = text[index]
                index += 1
                if current == "\\":
                    if index >= length:
                        break
                    index += 1
                elif current == "'":
                    kind = CSTRING
                    break
            tokens.append((kind, start))
        elif char == "'":
            while True:
                if index >= length:
                    tokens.append((UNTERMINATED, start))
                    return tokens
                current = text[index]
                index += 1
                if current == "'":
                    if index < length and text[index] == "'":
                        index += 1
                    else:
                        tokens.append((STRING, start))
                        break
        elif char == '"':
            while True:
                if index >= length:
                    tokens.append((UNTERMINATED, start))
                    return tokens
                current = text[index]
                index += 1
                if current == '"':
                    tokens.append((DQUOTED, start))
                    break
                if current == "\\":
                    index += 1
        elif char in " \t\n\r\x0c":
            while index < length and text[index] in " \t\n\r\x0c":
                index += 1
            tokens.append((SPACE, start))
        elif char.isascii() and char.isalpha():
            while index < length and (_word(text[index])):
                index += 1
            tokens.append((IDENT, start))
        else:
            tokens.append((UNKNOWN, start))
    return tokens


def _word(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "_-")


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.offset = 0

    def _next_index(self) -> int | None:
        offset = self.offset
        while offset < len(self.tokens):
            if self.tokens[offset][0] != SPACE:
                return offset
            offset += 1
        return None

    def peek(self) -> int | None:
        index = self._next_index()
        return None if index is None else self.tokens[index][0]

    def next(self) -> int | None:
        index = self._next_index()
        if index is None:
            return None
        self.offset = index + 1
        return self.tokens[index][0]

    def expect(self, kind: int) -> str | None:
        index = self._next_index()
        if index is None or self.tokens[index][0] != kind:
            return None
        self.offset = index + 1
        start = self.tokens[index][1]
        end = self.tokens[index + 1][1] if index + 1 < len(self.tokens) else len(self.text)
        return self.text[start:end]

    def finished(self) -> bool:
        # Prisma's own test: at most one token is left (e.g. a trailing space).
        return self.offset >= len(self.tokens) - 1
