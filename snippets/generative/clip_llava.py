"""LLaVA's recipe in miniature: a CLIP vision encoder, a projector into the language model's embedding
space, and image tokens spliced into the text sequence; our splice equal to a tiny
transformers.LlavaForConditionalGeneration, then the sequence arithmetic of the real LLaVA-1.5."""

# --8<-- [start:tiny]
import torch
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from genai_guide.clip import num_image_tokens, splice_image_features

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
IMAGE = 3  # the placeholder token <image> in a 16-word vocabulary
config = LlavaConfig(
    vision_config=CLIPVisionConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                                   image_size=16, patch_size=4, num_channels=3),
    text_config=LlamaConfig(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=4, bos_token_id=0, eos_token_id=1,
                            pad_token_id=2),
    image_token_id=IMAGE,
    image_seq_length=num_image_tokens(16, 4),  # (16 / 4)^2 = 16 patches, the class token dropped
)
model = LlavaForConditionalGeneration(config).eval()
pixel_values = torch.randn(1, 3, 16, 16)  # one 16x16 RGB image
n_img = num_image_tokens(16, 4)
input_ids = torch.tensor([[0, 5, 6, *[IMAGE] * n_img, 7, 8, 9]])  # "<s> USER: <image> x16 what is it ?"
print("text + placeholders:", tuple(input_ids.shape), f"= 3 + {n_img} image tokens + 3")
# --8<-- [end:tiny]

# --8<-- [start:steps]
with torch.no_grad():
    vision = model.model.vision_tower(pixel_values, output_hidden_states=True)
    patches = vision.hidden_states[-2][:, 1:]  # the second-to-last layer, class token dropped: (1, 16, 24)
    image_tokens = model.model.multi_modal_projector(patches)  # linear -> GELU -> linear: (1, 16, 32)
    text_embeds = model.get_input_embeddings()(input_ids)  # (1, 22, 32)
    spliced = splice_image_features(text_embeds, input_ids, image_tokens, IMAGE)  # (1, 22, 32)
    ours = model(inputs_embeds=spliced).logits  # the language model reads one mixed sequence
    theirs = model(input_ids=input_ids, pixel_values=pixel_values).logits
print("vision encoder out:", tuple(vision.last_hidden_state.shape), "(class token + 16 patches)")
print("patch features:    ", tuple(patches.shape), "-> projector ->", tuple(image_tokens.shape))
print("text embeddings:   ", tuple(text_embeds.shape), "-> spliced:", tuple(spliced.shape),
      "-> logits:", tuple(ours.shape))
print("rows 3..18 are the image tokens:", torch.equal(spliced[0, 3:19], image_tokens[0]),
      "| text rows kept:", torch.equal(spliced[0, :3], text_embeds[0, :3]))
print("logits equal to LlavaForConditionalGeneration(input_ids, pixel_values):",
      torch.allclose(ours, theirs, rtol=0, atol=1e-10))
assert torch.allclose(ours, theirs, rtol=0, atol=1e-10)
# --8<-- [end:steps]

# --8<-- [start:real]
with torch.device("meta"):
    llava15 = LlavaForConditionalGeneration(LlavaConfig())  # the defaults follow llava-1.5-7b
vc, tc = llava15.config.vision_config, llava15.config.text_config
tokens = num_image_tokens(vc.image_size, vc.patch_size)
assert tokens == llava15.config.image_seq_length == 576
print(f"LLaVA-1.5: {vc.image_size} px image, patch {vc.patch_size} -> ({vc.image_size} / {vc.patch_size})^2 "
      f"= {tokens} image tokens of size {tc.hidden_size} in the LLM")
count = {name: sum(p.numel() for p in part.parameters()) for name, part in
         [("vision encoder", llava15.model.vision_tower), ("projector", llava15.model.multi_modal_projector)]}
print(f"  vision encoder {count['vision encoder']:,} parameters, projector {count['projector']:,} "
      f"({vc.hidden_size} -> {tc.hidden_size} -> {tc.hidden_size})")
assert count["projector"] == vc.hidden_size * tc.hidden_size + tc.hidden_size + tc.hidden_size ** 2 + tc.hidden_size
# --8<-- [end:real]
