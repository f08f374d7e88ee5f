/**
 * Hashes and random ids, for every layer: the pure core (runtime/core) may not import
 * Node built-ins itself, so what it needs of node:crypto is named here.
 */
import { hash, randomBytes } from "node:crypto";

/** The SHA-256 of `text`, as lowercase hex. */
export const sha256Hex = (text: string): string => hash("sha256", text);

/** The SHA-256 of bytes, as lowercase hex. */
export const sha256HexOfBytes = (data: Uint8Array): string => hash("sha256", data);

/** `bytes` random bytes, base64url (letters, digits, `-`, `_`: subject- and URL-safe). */
export const randomBase64Url = (bytes: number): string => randomBytes(bytes).toString("base64url");
