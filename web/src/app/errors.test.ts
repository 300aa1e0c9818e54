import { describe, expect, it } from "vitest";
import { ApiError } from "../net/api";
import { FileError } from "../net/files";
import { describeError } from "./errors";

describe("describeError", () => {
  it("drops the store's category prefix and makes a sentence", () => {
    expect(describeError(new ApiError(409, "already_exists", 'already exists: an account with the e-mail address "a@b.c" already exists; sign in instead'))).toBe(
      'An account with the e-mail address "a@b.c" already exists; sign in instead.',
    );
  });

  it("rewords terse codes", () => {
    expect(describeError(new ApiError(401, "wrong_credentials", "wrong e-mail address or password"))).toMatch(/don't match/);
    expect(describeError(new ApiError(0, "network", "x"))).toMatch(/could not be reached/);
    expect(describeError(new FileError("already_exists", "b exists"))).toMatch(/already exists/);
    expect(describeError(new FileError("refused", "permission denied"))).toBe("The system refused: Permission denied.");
  });
});

describe("names in messages", () => {
  it("are quoted exactly, never capitalised", () => {
    expect(describeError(new Error("hello.py already exists. Choose another name."))).toBe("hello.py already exists. Choose another name.");
    expect(describeError(new Error("notes already exists. Choose another name."))).toBe("notes already exists. Choose another name.");
    expect(describeError(new FileError("refused", "hello.py: permission denied"))).toBe("The system refused: hello.py: permission denied.");
    expect(describeError(new FileError("internal", '"data/x.py" is not a folder'))).toBe('"data/x.py" is not a folder.');
    expect(describeError(new ApiError(400, "invalid", "e.coli.py is not a valid title"))).toBe("e.coli.py is not a valid title.");
  });

  it("while ordinary words still start a sentence", () => {
    expect(describeError(new FileError("refused", "permission denied"))).toBe("The system refused: Permission denied.");
    expect(describeError(new ApiError(400, "invalid", "the title is too long"))).toBe("The title is too long.");
  });
});
